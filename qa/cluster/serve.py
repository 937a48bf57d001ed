"""The Flask app behind Ray Serve: N replicas over the shared index folder.

Ray Serve speaks ASGI, Flask WSGI: each replica builds the app (qa.app.create_app, so the same
routes, OpenAPI, errors, tokens and chat page) and serves it through a2wsgi's WSGIMiddleware. Every
replica opens the index from the shared folder and follows writes by its generation, as any second
process does; a write takes the folder's writer lock, so one writer writes at a time. With shards,
the replicas search the shard actors instead of loading FAISS and BM25 themselves.

The proxy runs on the head only (several nodes of one machine cannot all bind the same port).
"""
from __future__ import annotations

from typing import Any

from qa.cluster.connect import connect

APPLICATION = "qa"
REPLICA_CPUS = 0.5  # a replica mostly waits on I/O and FAISS; two share a core


class Replica:
    """One replica: the qa app, built on the replica (not pickled from the driver)."""

    def __init__(self, config: dict, shards: int = 0):
        self.config, self.shards = config, shards

    def __serve_build_asgi_app__(self):
        from a2wsgi import WSGIMiddleware

        from qa.app import create_app

        app = create_app(self.config)
        if self.shards:
            from qa.cluster.shards import attach, find_shards

            service = app.extensions["qa"]
            attach(service.index, find_shards(service.index.folder, self.shards))
        return WSGIMiddleware(app, workers=8)

    def generation(self) -> dict:
        """For `qa cluster status`: the index generation this replica's store is at."""
        import os

        from qa.store import Store
        from qa.folder import DATABASE
        from pathlib import Path

        return {"pid": os.getpid(), "generation": Store(Path(self.config["INDEX"]) / DATABASE).generation}


def deploy(config: dict, address: str, replicas: int = 2, host: str = "127.0.0.1", port: int = 8000,
           shards: int = 0) -> str:
    """Start Serve and the qa application (and its shards); the URL it answers on."""
    connect(address)  # joins (or starts) the cluster Serve runs on
    from ray import serve

    if shards:
        from qa.cluster.shards import start_shards

        start_shards(config["INDEX"], shards, address, detached=True)
    serve.start(http_options={"host": host, "port": port, "location": "HeadOnly"})
    deployment = serve.deployment(serve.ingress()(Replica), name="qa", num_replicas=replicas,
                                  ray_actor_options={"num_cpus": REPLICA_CPUS}, max_ongoing_requests=16)
    serve.run(deployment.bind(config, shards), name=APPLICATION, route_prefix="/", blocking=False)
    return f"http://{host}:{port}"


def undeploy() -> None:
    from ray import serve

    serve.delete(APPLICATION)


def replicas() -> list[dict[str, Any]]:
    """The qa application's replicas and their state (empty when it is not deployed)."""
    from ray import serve

    status = serve.status()
    application = status.applications.get(APPLICATION)
    if application is None:
        return []
    return [{"deployment": name, "status": str(deployment.status.value if hasattr(deployment.status, "value") else deployment.status),
             "replicas": dict(deployment.replica_states)} for name, deployment in application.deployments.items()]
