"""The token file a Ray node's trials read is replaced whole, for its user only, by a writer
actor kept on each node.

The refresher itself runs against the real kerberized YARN in
tests/security/test_kerberos_yarn_fit.py (a fit that outlives the tokens' renew interval).
"""

from __future__ import annotations

import os
import signal
import stat
import threading
import time

import pytest

from zoo_tune.cluster._token_refresh import TOKEN_FILE_ENV, NodeTokenWriters, write_token_file


def test_token_file_is_replaced_atomically_and_private(tmp_path, monkeypatch):
    path = tmp_path / "container_tokens"
    path.write_bytes(b"HDTS\x00old")
    os.chmod(path, 0o644)
    monkeypatch.setenv(TOKEN_FILE_ENV, str(path))
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:  # a reader (hdfs-native) sees the old file or the new one, whole
        while not stop.is_set():
            seen.add(path.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(200):
            assert write_token_file(b"HDTS\x00new" + bytes([i % 2]) * 4096) == str(path)
    finally:
        stop.set()
        reader.join(10)
    assert seen <= {b"HDTS\x00old"} | {b"HDTS\x00new" + bytes([i]) * 4096 for i in (0, 1)}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["container_tokens"]  # no temp file left


def test_no_token_file_outside_a_yarn_container(monkeypatch):
    monkeypatch.delenv(TOKEN_FILE_ENV, raising=False)
    assert write_token_file(b"HDTS\x00") is None


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    folder = tmp_path / "gone"
    monkeypatch.setenv(TOKEN_FILE_ENV, str(folder / "container_tokens"))
    with pytest.raises(FileNotFoundError):
        write_token_file(b"HDTS\x00")
    assert not folder.exists()


def _gone(pid: int, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.timeout(180)
def test_node_writers_are_kept_between_pushes_and_made_anew_when_killed(ray_local, tmp_path):
    # One writer per node, kept: a push is an actor call, not a new worker process each time.
    # The token file's variable is given to the writers only (a runtime_env): the session's
    # local Ray node is not a YARN container.
    path = tmp_path / "container_tokens"
    writers = NodeTokenWriters({"runtime_env": {"env_vars": {TOKEN_FILE_ENV: str(path)}}})
    try:
        assert writers.push(b"HDTS\x00one") == 1
        assert path.read_bytes() == b"HDTS\x00one"
        first = writers.pids()
        assert len(first) == 1
        assert writers.push(b"HDTS\x00two") == 1
        assert path.read_bytes() == b"HDTS\x00two"
        assert writers.pids() == first
        # The writer's process is killed for real: that push fails and names the node, the
        # next one makes a new writer and writes.
        (pid,) = first.values()
        os.kill(pid, signal.SIGKILL)
        assert _gone(pid)
        with pytest.raises(RuntimeError, match="did not reach 1 of 1 Ray nodes"):
            writers.push(b"HDTS\x00three")
        assert path.read_bytes() == b"HDTS\x00two"
        assert writers.push(b"HDTS\x00four") == 1
        assert path.read_bytes() == b"HDTS\x00four"
        (new_pid,) = writers.pids().values()
        assert new_pid != pid
    finally:
        writers.close()
    assert _gone(new_pid), "close() left the writer running"


@pytest.mark.timeout(120)
def test_a_node_without_a_token_file_keeps_no_writer(ray_local, monkeypatch):
    monkeypatch.delenv(TOKEN_FILE_ENV, raising=False)
    writers = NodeTokenWriters()
    try:
        assert writers.push(b"HDTS\x00") == 0
        assert writers.pids() == {}
        assert writers.push(b"HDTS\x00") == 0  # asked once, not again
    finally:
        writers.close()
