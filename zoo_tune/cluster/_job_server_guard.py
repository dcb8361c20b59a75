"""Ray on Spark's job server, guarded: only this machine may ask it to start or stop Ray nodes.

Ray on Spark runs an HTTP server on the driver (``ray.autoscaler._private.spark``) with no
authentication. Its ``create_node`` starts a Spark job that starts a Ray node, with the
cluster's environment (the Ray token among it), joined to whatever head address the request
names: anyone who reaches it could have an executor carry the token to a Ray head of theirs.
Its callers are the autoscaler, which runs beside the Ray head on this machine, and the Spark
tasks holding Ray nodes (``check_node_id_availability``, ``notify_task_launched``). While a
context runs, :func:`install` makes the server refuse (403) every other request: anything but
those two calls from an address that is not this machine's, and those two from an address that
is neither this machine's nor an executor host's of the application.

Example:
    >>> allowed("/create_node", "10.0.0.9", {"127.0.0.1"}, {"10.0.0.9"})
    False
    >>> allowed("/notify_task_launched", "10.0.0.9", {"127.0.0.1"}, {"10.0.0.9"})
    True
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

#: What a Spark task holding a Ray node asks the job server (from an executor's host).
EXECUTOR_CALLS = frozenset({"check_node_id_availability", "notify_task_launched"})

_ORIGINAL: Callable[[Any], None] | None = None


def allowed(path: str, client_ip: str, local_ips: set[str], executor_ips: set[str]) -> bool:
    """Whether a POST to ``path`` from ``client_ip`` is one of the cluster's own calls."""
    client_ip = client_ip.removeprefix("::ffff:")
    if client_ip in local_ips:
        return True
    call = path.strip("/").split("/", 1)[0]
    return call in EXECUTOR_CALLS and client_ip in executor_ips


def local_ips() -> set[str]:
    """Every address of this machine's interfaces (and loopback)."""
    import psutil

    found = {"127.0.0.1", "::1"}
    for addresses in psutil.net_if_addrs().values():
        found.update(a.address.split("%", 1)[0] for a in addresses
                     if a.family in (socket.AF_INET, socket.AF_INET6))
    return found


def executor_ips(spark: Any) -> set[str]:
    """The addresses of the hosts the application's executors (and driver) run on."""
    ips: set[str] = set()
    try:
        status = spark.sparkContext._jsc.sc().getExecutorMemoryStatus()
        hosts = {str(key).rsplit(":", 1)[0] for key in _scala_keys(status)}
    except Exception:  # noqa: BLE001 - the JVM is going away: nothing more is allowed
        return ips
    for host in hosts:
        try:
            ips.update(info[4][0] for info in socket.getaddrinfo(host, None))
        except OSError:
            continue
    return ips


def _scala_keys(scala_map: Any) -> list[Any]:
    keys, iterator = [], scala_map.keys().iterator()
    while iterator.hasNext():
        keys.append(iterator.next())
    return keys


def install(spark: Any) -> None:
    """Guard the job server for the cluster on ``spark`` (until :func:`uninstall`)."""
    global _ORIGINAL
    try:
        from ray.autoscaler._private.spark.spark_job_server import (
            SparkJobServerRequestHandler as Handler,
        )
    except ImportError:
        logger.warning("This Ray has no Ray on Spark job server to guard.")
        return
    if _ORIGINAL is not None:
        return
    original = Handler.do_POST
    mine = local_ips()

    def guarded_do_post(handler: Any) -> None:
        ip = handler.client_address[0]
        if allowed(handler.path, ip, mine, set()) or allowed(
                handler.path, ip, mine, executor_ips(spark)):
            original(handler)
            return
        logger.warning("Refused %s from %s: Ray on Spark's job server takes it only from this "
                       "machine (or, for a Ray node's own calls, an executor's host).",
                       handler.path, ip)
        handler.send_response(403)
        handler.end_headers()

    Handler.do_POST = guarded_do_post
    _ORIGINAL = original


def uninstall() -> None:
    """Put Ray's own handler back."""
    global _ORIGINAL
    if _ORIGINAL is None:
        return
    from ray.autoscaler._private.spark.spark_job_server import (
        SparkJobServerRequestHandler as Handler,
    )

    Handler.do_POST = _ORIGINAL
    _ORIGINAL = None
