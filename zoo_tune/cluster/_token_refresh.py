"""Fresh Hadoop delegation tokens for the Ray nodes in YARN containers, for as long as Ray runs.

A trial in a YARN container writes to a Kerberos-secured HDFS with the delegation tokens in the
file YARN wrote when the container started (``HADOOP_TOKEN_FILE_LOCATION``); hdfs-native reads
that file again for every connection it opens. Tokens expire one renew interval after they
were issued or last renewed (``dfs.namenode.delegation.token.renew-interval``, a day by
default). With a keytab (``spark.kerberos.principal``/``keytab``) Spark's driver obtains new
tokens before the old ones expire and sends them to the executor JVMs, never to that file, and
the ResourceManager renews only the tokens the application was submitted with. So a fit longer
than the renew interval would lose HDFS access in its trials.

:class:`TokenRefresher` closes that gap: a driver thread reads the driver JVM's current Hadoop
credentials (where Spark puts the new tokens) every :data:`POLL_S` seconds and, when they
changed, has each Ray node rewrite its container's token file with them (the file is replaced
atomically, readable by the user only). The writing is done by :class:`NodeTokenWriters`: one
zero-CPU Ray actor per node, started with the refresher and kept, so a push is one actor call
per node (milliseconds) and not a new worker process per node (tens of seconds on a busy
node, longer than the quarter of the renew interval Spark leaves). Nodes with no token file
(the head node on the driver's machine) keep no writer. Only on a YARN session with Hadoop
security on; elsewhere :func:`start` returns None.

Example:
    >>> refresher = start(spark)  # doctest: +SKIP
    >>> refresher.pushes  # doctest: +SKIP
    1
    >>> refresher.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)

#: Seconds between two reads of the driver's credentials (a local py4j call). Spark gets new
#: tokens at 75 % of their renew interval, so a quarter of it is left to pass them on.
POLL_S = 2.0
#: Seconds one push to all nodes may take before it is given up (and tried at the next change).
PUSH_TIMEOUT_S = 60.0
TOKEN_FILE_ENV = "HADOOP_TOKEN_FILE_LOCATION"


def driver_credentials(spark: Any) -> bytes | None:
    """The driver JVM's current Hadoop credentials in Hadoop's token file format, or None
    when Hadoop security is off."""
    jvm = spark.sparkContext._jvm
    ugi = jvm.org.apache.hadoop.security.UserGroupInformation
    if not ugi.isSecurityEnabled():
        return None
    buffer = jvm.java.io.ByteArrayOutputStream()
    stream = jvm.java.io.DataOutputStream(buffer)
    ugi.getCurrentUser().getCredentials().writeTokenStorageToStream(stream)
    stream.flush()
    return bytes(buffer.toByteArray())


def write_token_file(data: bytes) -> str | None:
    """Replace this process's ``HADOOP_TOKEN_FILE_LOCATION`` file with ``data`` (atomically,
    mode 0600); its path, or None where the variable is unset (not in a YARN container)."""
    path = os.environ.get(TOKEN_FILE_ENV)
    if not path:
        return None
    tmp = f"{path}.zoo_tune.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # a reader sees the old file or the new one, never half of one
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


class _TokenWriter:
    """The Ray actor of one node: rewrites that node's token file on request."""

    def write(self, data: bytes) -> str | None:
        return write_token_file(data)

    def pid(self) -> int:
        return os.getpid()


class NodeTokenWriters:
    """One :class:`_TokenWriter` actor per alive Ray node, made at the first push to that node.

    A node whose writer found no token file keeps none (nothing to refresh there); a writer that
    died (its node lost, its process killed) is made anew at the next push.

    Args:
        actor_options: Extra Ray actor options for the writers (e.g. a ``runtime_env``).

    Example:
        >>> writers = NodeTokenWriters()  # doctest: +SKIP
        >>> writers.push(b"HDTS...")  # doctest: +SKIP
        2
        >>> writers.close()  # doctest: +SKIP
    """

    def __init__(self, actor_options: dict[str, Any] | None = None) -> None:
        self._options = dict(actor_options or {})
        self._actors: dict[str, Any] = {}
        self._no_file: set[str] = set()
        self._cls: Any = None

    def _writer(self, node: str) -> Any:
        if node not in self._actors:
            import ray
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            if self._cls is None:
                self._cls = ray.remote(num_cpus=0, max_restarts=0)(_TokenWriter)
            self._actors[node] = self._cls.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
                **self._options).remote()
        return self._actors[node]

    def pids(self) -> dict[str, int]:
        """Node id -> the process id of its writer (those made so far)."""
        import ray

        return dict(zip(self._actors, ray.get([a.pid.remote() for a in self._actors.values()],
                                              timeout=PUSH_TIMEOUT_S)))

    def push(self, data: bytes, timeout_s: float = PUSH_TIMEOUT_S) -> int:
        """Write ``data`` to the token file of every alive node; how many files were written.

        Raises:
            RuntimeError: a node's write failed or took longer than ``timeout_s`` (its writer
                is dropped and made anew at the next push); the other nodes' writes stand.
        """
        import ray

        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
        for node in set(self._actors) - alive:
            self._drop(node)
        calls = {node: self._writer(node).write.remote(data)
                 for node in sorted(alive - self._no_file)}
        if not calls:
            return 0
        ready, _ = ray.wait(list(calls.values()), num_returns=len(calls), timeout=timeout_s)
        failed = []
        written = 0
        for node, ref in calls.items():
            try:
                if ref not in ready:
                    raise TimeoutError(f"no answer in {timeout_s:.0f} s")
                path = ray.get(ref)
            except Exception as err:  # noqa: BLE001 - reported below, the writer made anew
                failed.append(f"{node[:8]}: {type(err).__name__}: {err}")
                self._drop(node)
                continue
            if path is None:  # no container token file on this node: nothing to refresh
                self._no_file.add(node)
                self._drop(node)
            else:
                written += 1
        if failed:
            raise RuntimeError(f"New delegation tokens did not reach {len(failed)} of "
                               f"{len(calls)} Ray nodes: " + "; ".join(failed))
        return written

    def _drop(self, node: str) -> None:
        actor = self._actors.pop(node, None)
        if actor is not None:
            import ray

            try:
                ray.kill(actor)
            except Exception as err:  # noqa: BLE001 - already gone
                logger.debug("Token writer of node %s: %s", node, err)

    def close(self) -> None:
        """End every writer (when Ray is still up)."""
        import ray

        if not ray.is_initialized():
            self._actors.clear()
            return
        for node in list(self._actors):
            self._drop(node)


class TokenRefresher:
    """The driver thread that passes Spark's new tokens on to every Ray node's token file.

    Attributes:
        pushes: How many times new credentials reached every node.
        failures: How many pushes failed (logged; the next change tries again).
    """

    def __init__(self, spark: Any, poll_s: float = POLL_S) -> None:
        self._spark = spark
        self._poll_s = poll_s
        self._last: bytes | None = None
        self._writers = NodeTokenWriters()
        self._stop = threading.Event()
        self.pushes = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="zoo_tune-token-refresh",
                                        daemon=True)

    def start(self) -> TokenRefresher:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def stop(self, timeout_s: float = PUSH_TIMEOUT_S + 5) -> None:
        """Stop the thread (waits for a push under way, at most ``timeout_s``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._writers.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = driver_credentials(self._spark)
                if data is not None and data != self._last:
                    self._push(data)
                    self._last = data
                    self.pushes += 1
            except Exception as err:  # noqa: BLE001 - logged; the next poll tries again
                self.failures += 1
                if not self._stop.is_set():
                    logger.warning("Could not pass new delegation tokens to the Ray nodes "
                                   "(tried again in %.0f s): %s", self._poll_s, err)
            self._stop.wait(self._poll_s)

    def _push(self, data: bytes) -> None:
        started = time.monotonic()
        written = self._writers.push(data)
        logger.info("New delegation tokens written to %d Ray nodes' token files in %.1f s.",
                    written, time.monotonic() - started)


def start(spark: Any) -> TokenRefresher | None:
    """A started :class:`TokenRefresher` for a YARN session with Hadoop security on, else None.
    """
    if not str(spark.sparkContext.master).startswith("yarn"):
        return None
    try:
        if driver_credentials(spark) is None:
            return None
    except Exception as err:  # noqa: BLE001 - no Hadoop security classes: nothing to refresh
        logger.debug("No Hadoop credentials to refresh: %s", err)
        return None
    return TokenRefresher(spark).start()
