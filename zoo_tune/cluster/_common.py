"""Names and small checks every launcher shares; imports nothing of ``zoo_tune.cluster``.

Example:
    >>> is_loopback("127.0.0.1")
    True
"""

from __future__ import annotations

import ipaddress
import socket

#: The name a Python environment archive is unpacked under on every node (``#environment``).
ENV_ALIAS = "environment"
#: The Python executors (and a YARN ``cluster`` mode driver) run: the unpacked archive's.
ENV_PYTHON = f"./{ENV_ALIAS}/bin/python"

# Ray-on-Spark holds a file lock for this many seconds after each Ray node it starts on a host,
# so that two raylets never pick ports at the same time (at 0 a raylet here died with "bind:
# Address already in use"). Ray's default is 10 s; a worker that finds the lock taken retries
# after a fixed 10 s, so any value between ~3 and ~8 s starts two workers per host in the same
# time as 10 s does not. Read by Ray from the environment, in the driver and the executors.
WORKER_STARTUP_INTERVAL_ENV = "RAY_ON_SPARK_RAY_WORKER_NODE_STARTUP_INTERVAL"
WORKER_STARTUP_INTERVAL_S = "5"


#: Spark RPC authentication and AES encryption (``spark.network.crypto``) for the sessions
#: zoo_tune creates where Spark has the secret (YARN makes one per application; local-cluster
#: gets one from zoo_tune): the tasks that start Ray nodes carry the Ray token.
SPARK_AUTH_CONF = {"spark.authenticate": "true", "spark.network.crypto.enabled": "true"}


def unreachable(hosts: list[tuple[str, int]], timeout_s: float) -> list[str]:
    """``[]`` once one of ``hosts`` accepts a TCP connection, else ``"host:port: why"`` each.

    Example:
        >>> unreachable([("127.0.0.1", 1)], 0.5)  # doctest: +SKIP
        ['127.0.0.1:1: Connection refused']
    """
    errors = []
    for host, port in hosts:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return []
        except OSError as err:
            errors.append(f"{host}:{port}: {err.strerror or err}")
    return errors


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
