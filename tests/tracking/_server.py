"""A real ``mlflow server`` on 127.0.0.1 (sqlite backend), started and stopped by the tests.

``mlflow server`` starts uvicorn as a child process: the server runs in its own process
group, and pause/kill signal the whole group, so the process that answers is the one hit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """``mlflow server --backend-store-uri sqlite:///<folder>/mlflow.db`` on a free port."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.pids: set[int] = set()

    def start(self, timeout_s: float = 120.0) -> MlflowServer:
        mlflow = Path(sys.executable).with_name("mlflow")
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - kept for the process
        self.proc = subprocess.Popen(
            [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1",
             "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
             "--artifacts-destination", str(self.folder / "artifacts")],
            cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: "
                                   f"{(self.folder / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        self._remember()
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer within {timeout_s} s")

    def _remember(self) -> None:
        assert self.proc is not None
        root = psutil.Process(self.proc.pid)
        self.pids |= {root.pid, *(p.pid for p in root.children(recursive=True))}

    def _signal(self, signum: int) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signum)

    def pause(self) -> None:
        """SIGSTOP the server's process group: connections are accepted, never answered."""
        self._remember()
        self._signal(signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL the server's process group (after a pause too)."""
        assert self.proc is not None
        self._remember()
        self._signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._wait_gone()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._wait_gone()
            return
        self._remember()
        try:
            self._signal(signal.SIGCONT)
            self._signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                self._signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
        self._wait_gone()

    def _wait_gone(self, timeout_s: float = 30.0) -> None:
        """Every process of the server is gone (children included); kill stragglers."""
        deadline = time.monotonic() + timeout_s
        while True:
            alive = [pid for pid in self.pids if psutil.pid_exists(pid) and
                     psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
            if not alive:
                return
            if time.monotonic() > deadline:
                for pid in alive:
                    os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"mlflow server processes left: {alive}")
            time.sleep(0.2)
