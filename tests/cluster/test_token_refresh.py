"""The token file a Ray node's trials read is replaced whole, for its user only.

The refresher itself runs against the real kerberized YARN in
tests/security/test_kerberos_yarn_fit.py (a fit that outlives the tokens' renew interval).
"""

from __future__ import annotations

import os
import stat
import threading

import pytest

from zoo_tune.cluster._token_refresh import TOKEN_FILE_ENV, write_token_file


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
