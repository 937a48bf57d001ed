"""Joining a Ray cluster, or starting one for the run, with every call bounded in time.

`--ray local` starts a one-machine cluster that keeps every Ray process on 127.0.0.1 (Ray otherwise
binds the machine's network address); `--ray auto` joins the cluster this machine belongs to;
anything else is a cluster address (host:port of its head). Ray's own token authentication stays
as Ray sets it. A cluster that cannot be reached is a ClusterUnreachable naming the address, never
a hang: an address is probed with a plain TCP connection first, and every later wait has a timeout.
"""
from __future__ import annotations

import os
import socket
from typing import Any

from qa.errors import QAError

CALL_TIMEOUT = 60.0  # seconds any one Ray call may take before the cluster counts as unreachable
PROBE_TIMEOUT = 3.0  # seconds to open a TCP connection to the head
OBJECT_STORE_BYTES = 256 * 2**20  # `local`: results stream through, they do not pile up
NAMESPACE = "qa"  # shards and the Serve application are found by name in it


class ClusterUnreachable(QAError):
    status_code = 503
    code = "cluster_unreachable"


class RayMissing(QAError):
    status_code = 500
    code = "ray_missing"


def import_ray():
    """Ray, or an error saying which extra to install."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read once, at import: loopback for `local`
    try:
        import ray
    except ImportError:
        raise RayMissing("Ray is not installed: pip install -e '.[ray]' (or pip install 'qa[ray]').") from None
    return ray


def connect(address: str) -> Any:
    """The `ray` module, connected to the cluster `address` (local | auto | host:port)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    try:
        if address == "local":
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
                     namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
        else:
            if address != "auto":
                probe(address)
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
    except ClusterUnreachable:
        raise
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ClusterUnreachable(
            f"Cannot join the Ray cluster at {address!r} ({str(error).splitlines()[0]}). Start one with "
            f"`ray start --head`, give its address (--ray HOST:PORT / QA_RAY_ADDRESS), or use --ray local.") from None
    return ray


def probe(address: str) -> None:
    """Refuse an address nothing listens on, in seconds rather than after Ray's long retries."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ClusterUnreachable(f"{address!r} is not a Ray cluster address: give HOST:PORT of its head, auto or local.")
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT).close()
    except OSError as error:
        raise ClusterUnreachable(f"No Ray cluster answers at {address} ({error.strerror or error}). Is the head running "
                                 f"(`ray start --head`), and is this its address (`ray status`)?") from None


def wait(refs, timeout: float = CALL_TIMEOUT, what: str = "the cluster"):
    """ray.get with a deadline: a result, or ClusterUnreachable saying what did not answer."""
    ray = import_ray()
    try:
        return ray.get(refs, timeout=timeout)
    except ray.exceptions.GetTimeoutError:
        raise ClusterUnreachable(f"{what} did not answer within {timeout:.0f}s. See `qa cluster status`.") from None


def disconnect() -> None:
    ray = import_ray()
    if ray.is_initialized():
        ray.shutdown()
