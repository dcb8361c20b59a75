"""A real single-node HDFS from scripts/hdfs.sh, used through hdfs-native, fsspec and pyarrow.

The cluster gets its own run dir and the first free NameNode port from 9000, so a developer's
own `scripts/hdfs.sh start` (default run dir) is left alone. The first run ever downloads
Hadoop's jars (pyspark 2.4.8 sdist, 220 MB) into ~/.cache/zoo_tune/hdfs; later ones start in ~5 s.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

hdfs_native = pytest.importorskip("hdfs_native")

pytestmark = [
    pytest.mark.hdfs,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                       reason="scripts/hdfs.sh needs Java 8+"),
]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "hdfs.sh"
#: hdfs-native retries a NameNode that is down for ~3 min by default; fail in seconds instead.
FAIL_FAST = {"dfs.client.failover.max.attempts": "3"}


@pytest.fixture(scope="module")
def hdfs_env(tmp_path_factory):
    """Environment for scripts/hdfs.sh (own run dir, any free port); stops the cluster after."""
    env = dict(os.environ)
    env["ZOO_TUNE_HDFS_RUN"] = str(tmp_path_factory.mktemp("hdfs_run"))
    env["ZOO_TUNE_HDFS_PORT"] = "0"
    yield env
    hdfs_sh(env, "stop")


def hdfs_sh(env, command, check=True, timeout=600):
    """Run `scripts/hdfs.sh COMMAND`; the first start may download 220 MB of jars."""
    proc = subprocess.run(["bash", str(SCRIPT), command], env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"hdfs.sh {command} -> {proc.returncode}\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


@pytest.fixture
def hdfs_uri(hdfs_env):
    """hdfs://127.0.0.1:PORT of a running cluster (start is idempotent: ~10 ms when it runs)."""
    uri = hdfs_sh(hdfs_env, "start").stdout.strip().splitlines()[-1]
    assert uri.startswith("hdfs://127.0.0.1:")
    return uri


@pytest.fixture
def pyarrow_fs(hdfs_uri):
    """The pyarrow filesystem handed to Ray Tune: pyarrow on fsspec on hdfs-native."""
    import fsspec
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    url = urlparse(hdfs_uri)
    fs = fsspec.filesystem("hdfs", host=url.hostname, port=url.port, **FAIL_FAST)
    return PyFileSystem(FSSpecHandler(fs))


def test_start_again_reports_the_running_cluster(hdfs_env, hdfs_uri):
    again = hdfs_sh(hdfs_env, "start")
    assert "already running" in again.stderr
    assert again.stdout.strip().splitlines()[-1] == hdfs_uri
    assert hdfs_sh(hdfs_env, "uri").stdout.strip() == hdfs_uri
    assert hdfs_sh(hdfs_env, "status").stdout.startswith(f"running {hdfs_uri} ")


def test_hdfs_native_write_list_read_delete(hdfs_uri):
    from hdfs_native import Client, WriteOptions

    client = Client(hdfs_uri, FAIL_FAST)
    client.mkdirs("/native/sub", 0o755, True)
    with client.create("/native/sub/a.bin") as f:  # bare paths: a URI would be taken as relative
        f.write(b"\x00\x01" * 50_000)
    with client.create("/native/b.txt") as f:  # missing parents are created
        f.write(b"hello")
    listing = {s.path: (s.isdir, s.length) for s in client.list_status("/native")}
    assert listing == {"/native/sub": (True, 0), "/native/b.txt": (False, 5)}
    with client.read("/native/sub/a.bin") as f:
        assert f.read() == b"\x00\x01" * 50_000
    with pytest.raises(FileExistsError):
        client.create("/native/b.txt")
    overwrite = WriteOptions()
    overwrite.overwrite = True
    with client.create("/native/b.txt", overwrite) as f:
        f.write(b"bye")
    client.rename("/native/b.txt", "/native/c.txt")
    assert client.read("/native/c.txt").read() == b"bye"
    assert client.delete("/native", True)
    with pytest.raises(FileNotFoundError):
        client.get_file_info("/native")


def test_fsspec_hdfs_protocol(hdfs_uri):
    import fsspec

    fs, path = fsspec.core.url_to_fs(f"{hdfs_uri}/fsspec/x.bin", **FAIL_FAST)
    assert path == "/fsspec/x.bin"
    fs.pipe(path, b"abc")  # creates /fsspec
    assert fs.cat(f"{hdfs_uri}/fsspec/x.bin") == b"abc"  # URIs and bare paths both work here
    fs.makedirs("/fsspec/d", exist_ok=True)
    assert fs.ls("/fsspec", detail=False) == ["/fsspec/d", "/fsspec/x.bin"]
    assert fs.isdir("/fsspec/d") and fs.isfile(path) and not fs.exists("/fsspec/nope")
    fs.rm("/fsspec", recursive=True)
    assert not fs.exists("/fsspec")


def test_pyarrow_on_fsspec_for_ray_tune(pyarrow_fs, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow.fs import FileSelector, FileType, copy_files

    fs = pickle.loads(pickle.dumps(pyarrow_fs))  # Ray ships it to its workers
    fs.create_dir("/pa/exp/trial_0", recursive=True)
    fs.create_dir("/pa/exp/trial_0", recursive=True)  # exists: no error
    with fs.open_output_stream("/pa/exp/trial_0/result.json") as out:
        out.write(b'{"loss": 1.0}\n')
    with fs.open_output_stream("/pa/exp/trial_0/result.json") as out:  # overwrites
        out.write(b'{"loss": 0.5}\n')
    with fs.open_input_file("/pa/exp/trial_0/result.json") as f:
        f.seek(2)
        assert f.read() == b'loss": 0.5}\n'
    kinds = [i.type for i in fs.get_file_info(["/pa/exp", "/pa/exp/trial_0/result.json",
                                                "/pa/nope"])]
    assert kinds == [FileType.Directory, FileType.File, FileType.NotFound]

    (tmp_path / "ckpt" / "sub").mkdir(parents=True)
    (tmp_path / "ckpt" / "model.pt").write_bytes(b"weights")
    (tmp_path / "ckpt" / "sub" / "state.pkl").write_bytes(b"state")
    copy_files(str(tmp_path / "ckpt"), "/pa/exp/trial_0/checkpoint_000000",
               destination_filesystem=fs)  # how Ray Tune uploads a checkpoint dir
    found = {i.path: i.type for i in fs.get_file_info(FileSelector("/pa/exp", recursive=True))}
    assert found == {
        "/pa/exp/trial_0": FileType.Directory,
        "/pa/exp/trial_0/result.json": FileType.File,
        "/pa/exp/trial_0/checkpoint_000000": FileType.Directory,
        "/pa/exp/trial_0/checkpoint_000000/model.pt": FileType.File,
        "/pa/exp/trial_0/checkpoint_000000/sub": FileType.Directory,
        "/pa/exp/trial_0/checkpoint_000000/sub/state.pkl": FileType.File,
    }
    copy_files("/pa/exp/trial_0/checkpoint_000000", str(tmp_path / "back"),
               source_filesystem=fs)  # and downloads it
    assert (tmp_path / "back" / "sub" / "state.pkl").read_bytes() == b"state"

    pq.write_table(pa.table({"a": [1, 2, 3]}), "/pa/t.parquet", filesystem=fs)
    assert pq.read_table("/pa/t.parquet", filesystem=fs).column("a").to_pylist() == [1, 2, 3]

    fs.move("/pa/exp/trial_0/result.json", "/pa/exp/result.json")  # target must not exist
    fs.delete_dir_contents("/pa/exp")
    assert fs.get_file_info(FileSelector("/pa/exp")) == []
    fs.delete_dir("/pa")
    assert fs.get_file_info("/pa").type == FileType.NotFound


def test_hadoop_conf_dir_resolves_default_fs(hdfs_env, hdfs_uri, monkeypatch):
    import fsspec

    monkeypatch.setenv("HADOOP_CONF_DIR", str(Path(hdfs_env["ZOO_TUNE_HDFS_RUN"]) / "conf"))
    # A new client (not fsspec's cached instance) reads fs.defaultFS from there.
    fs, path = fsspec.core.url_to_fs("hdfs:///conf_dir/f", skip_instance_cache=True)
    fs.pipe(path, b"via fs.defaultFS")
    client = hdfs_native.Client(hdfs_uri, FAIL_FAST)
    assert client.read("/conf_dir/f").read() == b"via fs.defaultFS"
    fs.rm("/conf_dir", recursive=True)


def test_small_files_close_quickly(hdfs_env, hdfs_uri):
    """Each close waits for the DataNode's block report: 0.5 s a file without the ack delay."""
    import time

    from hdfs_native import Client

    home = Path(hdfs_env.get("ZOO_TUNE_HDFS_HOME", Path.home() / ".cache/zoo_tune/hdfs"))
    if not (home / "ext" / "ZooTuneAckDelay.class").is_file():
        pytest.skip("no javac: scripts/hdfs.sh could not build its ack-delay appender")
    client = Client(hdfs_uri, FAIL_FAST)
    start = time.monotonic()
    for i in range(10):
        with client.create(f"/small/{i}") as f:
            f.write(b"x")
    elapsed = time.monotonic() - start
    client.delete("/small", True)
    assert elapsed < 3.0, f"10 one-byte files took {elapsed:.1f} s"


def _alive(pid: int) -> bool:
    """A running process (a zombie, waiting for a PID 1 that may never reap it, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_status_then_stop_leaves_no_process(hdfs_env, hdfs_uri):
    run = Path(hdfs_env["ZOO_TUNE_HDFS_RUN"])
    pids = [int((run / f"{role}.pid").read_text()) for role in ("namenode", "datanode")]
    status = hdfs_sh(hdfs_env, "status")
    assert status.stdout.startswith(f"running {hdfs_uri} ")
    assert all(_alive(pid) for pid in pids)

    hdfs_sh(hdfs_env, "stop", timeout=60)
    assert not any(_alive(pid) for pid in pids)
    assert not list(run.glob("*.pid"))
    stopped = hdfs_sh(hdfs_env, "status", check=False)
    assert (stopped.returncode, stopped.stdout.strip()) == (3, "stopped")
    assert hdfs_sh(hdfs_env, "uri", check=False).returncode == 3
    assert "not running" in hdfs_sh(hdfs_env, "stop").stderr  # stop twice: fine
