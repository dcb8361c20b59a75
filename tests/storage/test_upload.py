"""Staged uploads on a local filesystem.

A refused rename stands in for a lost DataNode here, to test the retry rules on their own;
the real DataNode kill is tests/faults/test_storage_outage.py.
"""

from __future__ import annotations

import fsspec
import pytest
from fsspec.implementations.local import LocalFileSystem

from zoo_tune.errors import StorageUnavailableError
from zoo_tune.storage._bounded import Bounded
from zoo_tune.storage._upload import StagedUpload, is_write_outage

pytestmark = pytest.mark.timeout(60)


class _FlakyMove(LocalFileSystem):
    """Local disk whose first ``fails`` renames are refused like a DataNode that is down."""

    def __init__(self, fails: int) -> None:
        super().__init__()
        self.fails = fails

    def mv(self, path1, path2, **kwargs):
        if self.fails:
            self.fails -= 1
            raise RuntimeError('OperationFailed("Failed to complete file in time")')
        return super().mv(path1, path2, **kwargs)


def test_the_file_appears_whole_on_close_and_not_before(tmp_path):
    fs = fsspec.filesystem("file")
    target = tmp_path / "a.bin"
    f = StagedUpload(fs, str(target), Bounded("file://"))
    f.write(b"x" * 1000)
    assert not target.exists()
    f.close()
    assert target.read_bytes() == b"x" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_a_failed_writer_leaves_nothing(tmp_path):
    fs = fsspec.filesystem("file")
    with pytest.raises(ZeroDivisionError), StagedUpload(fs, str(tmp_path / "a"),
                                                        Bounded("file://")) as f:
        f.write(b"half")
        raise ZeroDivisionError("the writer failed")
    assert list(tmp_path.iterdir()) == []


def test_an_upload_cut_short_is_redone_and_cleans_up(tmp_path):
    fs = _FlakyMove(fails=2)
    with StagedUpload(fs, str(tmp_path / "a"), Bounded("file://flaky")) as f:
        f.write(b"whole")
    assert fs.fails == 0
    assert (tmp_path / "a").read_bytes() == b"whole"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_past_the_grace_period_it_is_a_storage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_TUNE_STORAGE_GRACE_S", "1")
    f = StagedUpload(_FlakyMove(fails=100), str(tmp_path / "a"), Bounded("file://down"))
    f.write(b"x")
    with pytest.raises(StorageUnavailableError, match="file://down"):
        f.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("err", "transient"), [
    (RuntimeError('OperationFailed("Failed to complete file in time")'), True),
    (TimeoutError("storage call close took longer than 15 s"), True),
    (OSError("Connection refused (os error 111)"), True),
    (PermissionError("Permission denied: user=zt"), False),
    (FileNotFoundError("/no/parent"), False),
    (ValueError("bad"), False),
])
def test_which_failures_are_retried(err, transient):
    assert is_write_outage(err) is transient
