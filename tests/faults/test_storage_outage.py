"""Real HDFS outages: the NameNode frozen with SIGSTOP for a while, or for good."""

from __future__ import annotations

import json
import os
import posixpath
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.faults.test_resume import _assert_complete, _finish, _lines, _start, _tree, _wait_for

pytestmark = [pytest.mark.slow, pytest.mark.hdfs, pytest.mark.timeout(480)]


def _job_at_trial_a_epoch(hdfs_cluster, tmp_path, label: str, epoch: int):
    """The job on HDFS, once trial a logged ``epoch`` epochs: (job, logs URI, NameNode pid)."""
    uri, conf = hdfs_cluster
    logs = f"{uri}/user/zt/outage_{label}_{os.getpid()}"
    record = tmp_path / "record"
    job = _start(logs, record, "1")
    _wait_for(lambda: len(_lines(record / "epochs_a")) >= epoch, 180,
              f"trial a's epoch {epoch}", job)
    return job, logs, int((Path(conf).parent / "namenode.pid").read_text())


def test_namenode_frozen_for_20_s_is_ridden_out(tmp_path, hdfs_cluster):
    job, _, namenode = _job_at_trial_a_epoch(hdfs_cluster, tmp_path, "short", 2)
    os.kill(namenode, signal.SIGSTOP)
    try:
        time.sleep(20)
    finally:
        os.kill(namenode, signal.SIGCONT)
    _assert_complete(_finish(job))


def test_namenode_frozen_for_good_ends_fit_with_a_clear_error(tmp_path, hdfs_cluster):
    from zoo_tune import AutoEstimator

    # Trial a's 3rd epoch runs once its 2nd epoch's checkpoint is on HDFS.
    job, logs, namenode = _job_at_trial_a_epoch(hdfs_cluster, tmp_path, "long", 3)
    tree = _tree(job)
    os.kill(namenode, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        try:
            _, err = job.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            job.kill()
            pytest.fail("fit did not end within 150 s of the NameNode freezing")
        took = time.monotonic() - stopped
        assert job.returncode != 0
        assert "StorageUnavailableError" in err, err[-3000:]
        assert "127.0.0.1" in err and "resume=True" in err, err[-3000:]
        assert took < 120, took
        print(f"fit ended {took:.0f} s after the NameNode froze")
        _, alive = psutil.wait_procs(tree, timeout=20)
        assert not alive, [(p.pid, p.name()) for p in alive]
    finally:
        os.kill(namenode, signal.SIGCONT)
    # Everything written before the outage is readable once the NameNode is back.
    est = AutoEstimator.load(f"{logs}/resumable")
    table = est.get_trial_table().set_index("config/tag")
    assert len(table.loc["a", "acc_history"]) >= 2


class _BlockWatch:
    """Which blocks the DataNode is receiving, read from its log as it grows."""

    def __init__(self, run: Path) -> None:
        self._log = open(run / "logs" / "datanode.log", encoding="utf-8")  # noqa: SIM115
        self._log.seek(0, os.SEEK_END)
        self._namenode_log = run / "logs" / "namenode.log"
        self._tail = ""
        self.receiving: set[str] = set()

    def poll(self) -> set[str]:
        text = self._tail + self._log.read()
        *lines, self._tail = text.split("\n")
        for line in lines:
            if (m := re.search(r"Receiving \S+:(blk_\d+)_", line)):
                self.receiving.add(m.group(1))
            elif (m := re.search(r"PacketResponder: \S+:(blk_\d+)_.* terminating", line)):
                self.receiving.discard(m.group(1))
        return self.receiving

    def path_of(self, block: str) -> str:
        """The file the NameNode allocated ``block`` for."""
        for line in self._namenode_log.read_text().splitlines():
            if f"allocate {block}_" in line:
                return line.rsplit(" for ", 1)[-1]
        return "?"

    def close(self) -> None:
        self._log.close()


def _freeze_mid_checkpoint_write(run: Path, datanode: int, timeout_s: float) -> str:
    """SIGSTOP the DataNode while it receives a block of a checkpoint file; that file."""
    watch = _BlockWatch(run)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if watch.poll():
                os.kill(datanode, signal.SIGSTOP)
                for block in sorted(watch.poll()):  # still open, now that it is frozen
                    path = watch.path_of(block)
                    if "/checkpoint_" in path:
                        return path
                os.kill(datanode, signal.SIGCONT)
            time.sleep(0.002)
    finally:
        watch.close()
    pytest.fail(f"no checkpoint write caught in {timeout_s:.0f} s")


def _checkpoint_files(logs: str) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Every file under ``logs`` (path -> size), and each checkpoint folder's listed files."""
    import pyarrow.fs

    from zoo_tune.results import PROGRESS_FILE
    from zoo_tune.storage._hdfs import hdfs_filesystem

    fs, root = hdfs_filesystem(logs)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(root, recursive=True))
    sizes = {i.path: i.size for i in infos if i.type == pyarrow.fs.FileType.File}
    listed = {}
    for path in sizes:
        if posixpath.basename(path) == PROGRESS_FILE and "/checkpoint_" in path:
            with fs.open_input_stream(path) as f:
                listed[posixpath.dirname(path)] = json.loads(f.read())["files"]
    return sizes, listed


def test_datanode_killed_mid_checkpoint_write_leaves_no_half_file(tmp_path, hdfs_cluster):
    from zoo_tune import AutoEstimator

    uri, conf = hdfs_cluster
    run = Path(conf).parent
    job, logs, _ = _job_at_trial_a_epoch(hdfs_cluster, tmp_path, "datanode", 1)
    datanode = int((run / "datanode.pid").read_text())
    restart = ["bash", str(Path(__file__).resolve().parents[2] / "scripts" / "hdfs.sh"),
               "datanode"]
    try:
        caught = _freeze_mid_checkpoint_write(run, datanode, 120)
        os.kill(datanode, signal.SIGKILL)
        print(f"DataNode killed while it received {caught}")
        time.sleep(3)
    finally:
        subprocess.run(restart, env={**os.environ, "ZOO_TUNE_HDFS_RUN": str(run)},
                       check=True, capture_output=True, timeout=120)
    # The upload cut short is redone: the run completes without a trial failing.
    table = _finish(job)
    _assert_complete(table)
    assert all(r["failures"] == 0 for r in table), table
    # Under its real name every file is whole: each checkpoint folder holds every file its
    # progress lists, at its size; no staged upload is left behind.
    sizes, listed = _checkpoint_files(logs)
    assert listed
    for folder, files in listed.items():
        for name, size in files.items():
            assert sizes.get(posixpath.join(folder, name)) == size, (folder, name, size)
    assert not [p for p in sizes if ".zoo_tune-" in p], sizes
    best = AutoEstimator.load(f"{logs}/resumable").get_best_model()
    assert best is not None
