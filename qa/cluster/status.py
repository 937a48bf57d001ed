"""`qa cluster status`: the nodes, the qa application's replicas, the shards, and the index
generation each shard holds beside the store's (a shard behind the store catches up on the next
question). Every call is bounded: a cluster or shard that does not answer is reported, not waited on."""
from __future__ import annotations

from pathlib import Path

from qa.cluster.connect import NAMESPACE, connect
from qa.folder import DATABASE

STATUS_TIMEOUT = 10.0  # seconds a shard has to report


def status(address: str, index: str | None = None) -> dict:
    ray = connect(address)
    nodes = [{"node": node["NodeID"][:12], "address": node["NodeManagerAddress"], "alive": node["Alive"],
              "cpus": node["Resources"].get("CPU", 0.0),
              "object_store_gib": round(node["Resources"].get("object_store_memory", 0) / 2**30, 2)}
             for node in ray.nodes()]
    shards = []
    for entry in sorted(ray.util.list_named_actors(all_namespaces=True), key=lambda e: e["name"]):
        if entry["namespace"] != NAMESPACE or not entry["name"].startswith("qa-shard-"):
            continue
        try:
            shard = ray.get_actor(entry["name"], namespace=NAMESPACE)
            shards.append({"name": entry["name"], **ray.get(shard.status.remote(), timeout=STATUS_TIMEOUT)})
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError, ValueError) as error:
            shards.append({"name": entry["name"], "down": type(error).__name__})
    found = {"nodes": nodes, "replicas": replicas(ray), "shards": shards}
    if index is not None and (Path(index) / DATABASE).is_file():
        from qa.store import Store

        found["index"] = {"folder": str(index), "generation": Store(Path(index) / DATABASE).generation}
    return found


def replicas(ray) -> list[dict]:
    """The qa application's deployments and their replica states; empty when Serve is not running
    (looked up without starting it)."""
    try:
        ray.get_actor("SERVE_CONTROLLER_ACTOR", namespace="serve")
    except ValueError:
        return []
    from qa.cluster.serve import replicas as serve_replicas

    return serve_replicas()


def describe(found: dict) -> list[str]:
    """The status as lines for the terminal."""
    lines = [f"nodes: {sum(n['alive'] for n in found['nodes'])} alive of {len(found['nodes'])}"]
    lines += [f"  {n['node']}  {n['address']}  {'alive' if n['alive'] else 'dead '}  {n['cpus']:g} CPU  "
              f"{n['object_store_gib']} GiB object store" for n in found["nodes"]]
    lines.append(f"replicas: {'none (qa serve --ray not running)' if not found['replicas'] else ''}")
    lines += [f"  {r['deployment']}: {r['status']}  {r['replicas']}" for r in found["replicas"]]
    lines.append(f"shards: {len(found['shards']) or 'none'}")
    for shard in found["shards"]:
        lines.append(f"  {shard['name']}  " + (f"DOWN ({shard['down']})" if "down" in shard else
                                              f"{shard['passages']} passages  generation {shard['generation']}  "
                                              f"node {shard['node'][:12]}"))
    if "index" in found:
        lines.append(f"index: {found['index']['folder']} at generation {found['index']['generation']}")
    return lines
