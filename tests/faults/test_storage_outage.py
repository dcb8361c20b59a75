"""Real HDFS outages: the NameNode frozen with SIGSTOP for a while, or for good."""

from __future__ import annotations

import os
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
