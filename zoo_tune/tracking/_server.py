"""A local ``mlflow server`` (sqlite backend, artifacts served) on 127.0.0.1.

For a quick look at a fit's runs in MLflow's UI from a notebook or a laptop, and for zoo_tune's
own tests and benchmarks. The server runs in its own process group (``mlflow server`` starts
uvicorn as a child), so :meth:`MlflowServer.signal` and :meth:`MlflowServer.stop` reach every
process of it. It runs without MLflow's job execution (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION``:
a huey consumer and a job runner for GenAI evaluations and trace roll-ups, two more processes
polling the database), which runs and params never use.

Example:
    >>> server = MlflowServer("/tmp/mlflow").start()  # doctest: +SKIP
    >>> est.fit(..., mlflow_uri=server.uri)  # doctest: +SKIP
    >>> server.stop()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

logger = logging.getLogger("zoo_tune.tracking")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MlflowServer:
    """``mlflow server --backend-store-uri sqlite:///<folder>/mlflow.db`` on 127.0.0.1.

    Args:
        folder: Holds ``mlflow.db``, ``artifacts/`` and ``server.log``.
        port: The port (default: a free one). A restarted server keeps its port and data.

    Attributes:
        uri: ``http://127.0.0.1:<port>``, the tracking URI.
    """

    def __init__(self, folder: str | os.PathLike[str], port: int | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        """The server's output."""
        return self.folder / "server.log"

    def start(self, timeout_s: float = 120.0) -> MlflowServer:
        """Start the server and wait until ``/health`` answers."""
        mlflow = Path(sys.executable).with_name("mlflow")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", "1",
                 "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
                 "--artifacts-destination", str(self.folder / "artifacts")],
                cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._wait_gone()
                raise RuntimeError(f"mlflow server exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        logger.info("MLflow server at %s (pid %d)", self.uri, self.proc.pid)
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer on {self.uri} within {timeout_s} s")

    def alive(self) -> bool:
        """Whether any process of the server's group is left (zombies aside)."""
        if self.proc is None:
            return False
        self.proc.poll()
        try:
            os.killpg(self.proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def signal(self, signum: int) -> None:
        """Send ``signum`` to every process of the server (SIGSTOP, SIGKILL: fault tests)."""
        assert self.proc is not None, "the server was not started"
        os.killpg(self.proc.pid, signum)
        if signum == signal.SIGKILL:
            self.proc.wait(timeout=30)
            self._wait_gone()

    def stop(self) -> None:
        """Stop every process of the server (also when stopped with SIGSTOP) and wait."""
        if self.proc is None:
            return
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGCONT)
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            except ProcessLookupError:
                pass
        self._wait_gone()

    def _wait_gone(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.alive():
            if time.monotonic() > deadline:
                assert self.proc is not None
                os.killpg(self.proc.pid, signal.SIGKILL)
                raise RuntimeError(f"mlflow server processes (group {self.proc.pid}) left "
                                   f"after {timeout_s} s; killed")
            time.sleep(0.2)
