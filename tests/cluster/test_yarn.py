"""YARN modes up to the cluster boundary (no YARN can run here: DESIGN section 4).

Checked for real: the input rules (HADOOP_CONF_DIR, archive, deploy mode) before any cluster
work, a ResourceManager that does not answer, the exact Spark conf, the environment archive
pack_env builds (unpacked and imported from), and a run on the real standalone cluster whose
executors run nothing but that archive's Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.cluster._spark_helpers import run_script
from zoo_tune import init_context
from zoo_tune.cluster import _yarn, pack_env
from zoo_tune.errors import InvalidInputError

YARN_SITE = """<?xml version="1.0"?>
<configuration>
{props}
</configuration>
"""


def write_yarn_site(conf_dir: Path, **props: str) -> Path:
    conf_dir.mkdir(parents=True, exist_ok=True)
    body = "\n".join(f"  <property><name>{k.replace('_', '.')}</name><value>{v}</value>"
                     f"</property>" for k, v in props.items())
    (conf_dir / "yarn-site.xml").write_text(YARN_SITE.format(props=body))
    return conf_dir


@pytest.fixture
def no_hadoop_env(monkeypatch):
    for name in ("HADOOP_CONF_DIR", "YARN_CONF_DIR", "PYSPARK_GATEWAY_PORT", "CONTAINER_ID"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "pattern"),
    [
        ({}, r"need HADOOP_CONF_DIR \(or YARN_CONF_DIR\).*neither is set"),
        ({"HADOOP_CONF_DIR": "/nonexistent/conf"},
         r"HADOOP_CONF_DIR='/nonexistent/conf' is not a directory"),
        ({"YARN_CONF_DIR": "{tmp}"}, r"YARN_CONF_DIR='.*' has no yarn-site.xml"),
    ],
)
def test_yarn_client_needs_hadoop_conf_dir(no_hadoop_env, tmp_path, env, pattern):
    for key, value in env.items():
        no_hadoop_env.setenv(key, value.format(tmp=tmp_path))
    start = time.monotonic()
    with pytest.raises(InvalidInputError, match=pattern):
        init_context(cluster_mode="yarn-client")
    assert time.monotonic() - start < 2


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"cluster_mode": "yarn-cluster"},
         r"yarn-cluster' runs the driver inside a YARN container.*zoo-tune-submit --master yarn "
         r"--deploy-mode cluster"),
        ({"cluster_mode": "yarn-client", "master": "yarn"}, "takes no `master`"),
        ({"cluster_mode": "yarn-client", "archive": "env.zip"}, r"must be a \.tar\.gz or \.tgz"),
        ({"cluster_mode": "yarn-client", "archive": "/nonexistent/env.tar.gz"},
         "does not exist. Build one with zoo_tune.cluster.pack_env"),
        ({"cluster_mode": "spark-submit", "archive": "hdfs:///e.tar.gz"},
         r"\['archive'\] are set there"),
        ({"cluster_mode": "local", "archive": "hdfs:///e.tar.gz"},
         r"\['archive'\] belong to the Spark cluster modes"),
    ],
)
def test_bad_yarn_settings_fail_before_cluster_work(no_hadoop_env, tmp_path, kwargs, pattern):
    no_hadoop_env.setenv("HADOOP_CONF_DIR", str(write_yarn_site(tmp_path / "conf")))
    with pytest.raises(InvalidInputError, match=pattern):
        init_context(**kwargs)


def test_yarn_client_under_spark_submit_rejects_session_settings(no_hadoop_env, tmp_path):
    no_hadoop_env.setenv("HADOOP_CONF_DIR", str(write_yarn_site(tmp_path / "conf")))
    no_hadoop_env.setenv("PYSPARK_GATEWAY_PORT", "1")  # what spark-submit gives its driver
    with pytest.raises(InvalidInputError, match=r"\['executor_memory'\] are set there"):
        init_context(cluster_mode="yarn-client", executor_memory="2g")


def test_unreachable_resource_manager_fails_fast(tmp_path):
    """A real yarn-site.xml naming a closed port: a clear error in seconds, no Spark started."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = write_yarn_site(tmp_path / "conf", yarn_resourcemanager_address=f"127.0.0.1:{port}")
    archive = tmp_path / "env.tar.gz"
    with tarfile.open(archive, "w:gz"):
        pass
    body = f"""
    from zoo_tune import init_context
    from zoo_tune.errors import InvalidInputError

    os.environ["HADOOP_CONF_DIR"] = {str(conf)!r}
    start = time.monotonic()
    try:
        init_context(cluster_mode="yarn-client", archive={str(archive)!r})
        error = None
    except InvalidInputError as err:
        error = str(err)
    print(json.dumps({{"error": error, "s": time.monotonic() - start,
                      "jvm": "pyspark" in sys.modules}}))
    """
    out = run_script(body, tmp_path, timeout=90)
    assert out["error"].startswith(f"No YARN ResourceManager answers at 127.0.0.1:{port}: "
                                   f"Connection refused"), out["error"]
    assert f"{conf}/yarn-site.xml" in out["error"]
    assert out["s"] < 8 and out["jvm"] is False


def test_resource_managers_from_yarn_site(tmp_path):
    plain = write_yarn_site(tmp_path / "a", yarn_resourcemanager_hostname="rm.example.com")
    assert _yarn.resource_managers(plain) == [("rm.example.com", 8032)]
    ha = write_yarn_site(
        tmp_path / "b", yarn_resourcemanager_ha_enabled="true",
        yarn_resourcemanager_ha_rm__ids="rm1,rm2",
        yarn_resourcemanager_hostname_rm1="h1", yarn_resourcemanager_address_rm2="h2:9032")
    # write_yarn_site turns "_" into "."; "rm__ids" -> "rm..ids": fix the one key with a dash
    text = (ha / "yarn-site.xml").read_text().replace("rm..ids", "rm-ids")
    (ha / "yarn-site.xml").write_text(text)
    assert _yarn.resource_managers(ha) == [("h1", 8032), ("h2", 9032)]
    subst = write_yarn_site(tmp_path / "c", yarn_resourcemanager_hostname="h3",
                            yarn_resourcemanager_address="${yarn.resourcemanager.hostname}:1234")
    assert _yarn.resource_managers(subst) == [("h3", 1234)]


def test_yarn_conf_exact(monkeypatch):
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.delenv("RAY_ON_SPARK_RAY_WORKER_NODE_STARTUP_INTERVAL", raising=False)
    common = {
        "spark.master": "yarn",
        "spark.app.name": "tune",
        "spark.yarn.dist.archives": "hdfs:///envs/env.tar.gz#environment",
        "spark.pyspark.python": "./environment/bin/python",
        "spark.executor.cores": "2",
        "spark.executor.memory": "2g",
        # 10 % of 2 GiB (205 MiB) is under Spark's 384 MiB floor; + 1 GiB heap + 256 MiB store
        "spark.executor.memoryOverhead": f"{384 + 1024 + 256}m",
        # 3 Ray nodes + 1 spare executor for Spark's own jobs (the default)
        "spark.executor.instances": "4",
        "spark.zoo_tune.numNodes": "3",
        "spark.zoo_tune.spareExecutors": "1",
        "spark.dynamicAllocation.enabled": "false",
        "spark.speculation": "false",
        "spark.ui.showConsoleProgress": "false",
        # Spark's RPC authenticated and encrypted: YARN makes the secret.
        "spark.authenticate": "true",
        "spark.network.crypto.enabled": "true",
        # Written out: YARN starts the container with it unexpanded (a $PATH broke the launch).
        "spark.executorEnv.PATH": "./environment/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                  "/usr/bin:/sbin:/bin",
        "spark.executorEnv.PYSPARK_PYTHON": "./environment/bin/python",
        "spark.executorEnv.RAY_ON_SPARK_RAY_WORKER_NODE_STARTUP_INTERVAL": "5",
    }
    args = {"archive": "hdfs:///envs/env.tar.gz", "app_name": "tune", "cores": 2, "num_nodes": 3,
            "executor_memory": "2g", "node_memory": 1024**3, "object_store_memory": 256 * 1024**2}
    client = _yarn.yarn_conf("client", **args, extra={"spark.yarn.queue": "ml"})
    assert client == {**common, "spark.submit.deployMode": "client",
                      "spark.pyspark.driver.python": sys.executable, "spark.yarn.queue": "ml"}
    cluster = _yarn.yarn_conf("cluster", **args)
    am_env = {k.replace("spark.executorEnv.", "spark.yarn.appMasterEnv."): v
              for k, v in common.items() if k.startswith("spark.executorEnv.")}
    assert cluster == {**common, **am_env, "spark.submit.deployMode": "cluster",
                       # the Ray head in the driver's container: 512 MiB heap + 256 MiB store
                       "spark.driver.memoryOverhead": f"{384 + 512 + 256}m"}
    big = _yarn.yarn_conf("client", **{**args, "executor_memory": "8g"})
    assert big["spark.executor.memoryOverhead"] == f"{820 + 1024 + 256}m"  # 10 % of 8 GiB


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"output": "env.zip"}, r"must end in \.tar\.gz or \.tgz"),
        ({"output": "e.tar.gz", "prefix": "/usr"}, "is not a virtual environment"),
        ({"output": "e.tar.gz", "prefix": "/nonexistent"}, "does not exist"),
        ({"output": "e.tar.gz", "compress_level": 10}, "from 0 to 9"),
    ],
)
def test_pack_env_bad_input(tmp_path, kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        pack_env(**kwargs)


@pytest.mark.slow
def test_pack_env_archive_holds_a_working_environment(env_archive, tmp_path):
    path, pack_s = env_archive
    site = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    # Unpacked the way Spark and YARN do it (tar), then checked on disk.
    env = tmp_path / "environment"
    env.mkdir()
    try:
        _check_unpacked_archive(path, pack_s, env, site, tmp_path)
    finally:
        shutil.rmtree(env, ignore_errors=True)  # ~5 GB, even when the test fails


def _check_unpacked_archive(path: str, pack_s: float, env: Path, site: str, tmp_path: Path):
    subprocess.run(["tar", "-xzf", path, "-C", str(env)], check=True, timeout=300)
    # venv-pack links Python (the nodes need it at the same path), never copies it.
    python = env / "bin" / "python3"
    assert python.is_symlink() and os.readlink(python).startswith(sys.base_prefix)
    for name in ("pyvenv.cfg", "bin/ray", f"{site}/ray/__init__.py", f"{site}/torch/__init__.py",
                 f"{site}/zoo_tune/__init__.py", f"{site}/zoo_tune-0.1.0.dist-info/METADATA"):
        assert (env / name).exists(), name
    # The editable install became a copy: no hook, no editable marker, the same source.
    assert not list((env / site).glob("**/__editable__*"))
    assert not (env / site / "zoo_tune-0.1.0.dist-info" / "direct_url.json").exists()
    assert (env / site / "zoo_tune/cluster/_pack.py").read_bytes() == \
        (Path(__file__).parents[2] / "zoo_tune/cluster/_pack.py").read_bytes()
    assert not (env / site / "tensorflow").exists()  # excluded
    # Its Python imports everything from the archive, nothing from this checkout.
    code = ("import json, sys, ray, torch, zoo_tune\n"
            "from zoo_tune import AutoEstimator, init_context\n"
            "print(json.dumps({'exe': sys.executable, 'prefix': sys.prefix, 'files': "
            "[m.__file__ for m in (ray, torch, zoo_tune)]}))")
    out = subprocess.run([str(env / "bin" / "python"), "-c", code], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")})
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["exe"] == str(env / "bin" / "python") and got["prefix"] == str(env)
    assert all(f.startswith(f"{env}/{site}/") for f in got["files"]), got["files"]
    # PyPI's torch brings ~2.7 GB of CUDA libraries it loads on import (GPU or not): bounded,
    # not small.
    assert os.path.getsize(path) < 4.0e9 and pack_s < 600


STANDALONE_ARCHIVE_FIT = """
import numpy as np

from zoo_tune import AutoEstimator, hp, init_context, stop_context

master, record_dir, archive = sys.argv[1:4]


def model_creator(config):
    import os
    import sys

    from torch import nn

    files = {name: getattr(sys.modules[name], "__file__", None)
             for name in ("ray", "torch", "numpy", "zoo_tune")}
    loaded = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())})
    with open(os.path.join(record_dir, f"{os.getpid()}-{time.time_ns()}.json"), "w") as f:
        json.dump({"exe": sys.executable, "prefix": sys.prefix, "files": files,
                   "loaded": loaded, "pid": os.getpid()}, f)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=200)
x = (np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(200, 4))).astype(np.float32)
ctx = init_context(cluster_mode="standalone", master=master, num_nodes=2, cores=1,
                   memory=1024**3, object_store_memory=256 * 1024**2, archive=archive)
temp_root = ctx._spark_ray.temp_root
# The Spark tasks that hold the Ray worker nodes started them with their own sys.executable.
node_exes = sorted({p.info["cmdline"][0] for p in ray_node_processes(temp_root)
                    if "ray.util.spark.start_ray_node" in p.info["cmdline"]
                    and "--head" not in p.info["cmdline"]})
est = AutoEstimator.from_torch(model_creator=model_creator, optimizer="SGD",
                               loss="CrossEntropyLoss", logs_dir=os.path.abspath("logs"),
                               name="archive")
est.fit((x[:160], y[:160]), validation_data=(x[160:], y[160:]), epochs=1, n_sampling=2,
        metric="accuracy", search_space={"lr": hp.uniform(0.05, 0.2)}, verbose=0)
table = est.get_trial_table()
app_id = ctx._spark_ray.spark.sparkContext.applicationId
conf = dict(ctx._spark_ray.spark.sparkContext.getConf().getAll())
stop_context()
records = [json.load(open(os.path.join(record_dir, f))) for f in os.listdir(record_dir)]
print(json.dumps({
    "startup_s": ctx.startup_s, "timings": ctx.timings, "archive": ctx.archive,
    "statuses": table["status"].tolist(), "node_exes": node_exes,
    "records": [r for r in records if r["pid"] != os.getpid()], "driver_venv": sys.prefix,
    "executor_path": conf.get("spark.executorEnv.PATH"),
    "spark_archives": conf.get("spark.archives"), "left": ours_left(temp_root, app_id),
    "app_id": app_id,
}))
"""


@pytest.mark.slow
def test_standalone_executors_run_only_the_archive(spark_master, env_archive, tmp_path,
                                                   tmp_path_factory):
    """Trials on a real standalone cluster whose executors see nothing but the archive."""
    path, _ = env_archive
    records = tmp_path / "records"
    records.mkdir()
    body = "from zoo_tune.cluster._spark import ray_node_processes\n" + STANDALONE_ARCHIVE_FIT
    out = run_script(body, tmp_path, spark_master, str(records), path, timeout=600)
    # Each executor unpacked ~5 GB into the worker's app dir: gone now, not at package end.
    work = tmp_path_factory.getbasetemp().glob(f"spark_standalone*/work/*/{out['app_id']}")
    for app_dir in work:
        shutil.rmtree(app_dir, ignore_errors=True)
    venv, project = out["driver_venv"], str(Path(__file__).parents[2])
    assert out["archive"] == path and out["spark_archives"] == f"{path}#environment"
    assert out["executor_path"].startswith("./environment/bin:")
    assert f"{venv}/bin" not in out["executor_path"].split(":")
    assert out["statuses"] == ["TERMINATED", "TERMINATED"]
    # Both Ray worker nodes were started by the archive's Python, unpacked in each executor.
    assert len(out["node_exes"]) == 2, out["node_exes"]
    assert all(e.endswith("/environment/bin/python") and not e.startswith(venv)
               for e in out["node_exes"]), out["node_exes"]
    assert len(out["records"]) >= 2
    for rec in out["records"]:
        env_dir = rec["exe"].rsplit("/bin/python", 1)[0]
        assert env_dir.endswith("/environment") and rec["prefix"] == env_dir, rec["exe"]
        assert f"{os.path.dirname(env_dir)}/environment/bin/python" in out["node_exes"]
        assert all(f.startswith(env_dir + "/lib/") for f in rec["files"].values()), rec["files"]
        foreign = [f for f in rec["loaded"]
                   if f.startswith((venv + "/", project + "/zoo_tune/"))]
        assert foreign == [], foreign[:10]
    assert out["left"] == []


def test_pack_env_cache_and_python_prefix(tmp_path, monkeypatch):
    """A small real venv: cached by what is installed, and its python re-linked for the nodes."""
    from zoo_tune.cluster import _pack

    venv = tmp_path / "tiny"
    subprocess.run([sys.base_prefix + "/bin/python3", "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=120)
    monkeypatch.setattr(_pack, "CACHE_DIR", tmp_path / "cache")
    first = pack_env(prefix=venv)
    assert Path(first).parent == tmp_path / "cache" and first.endswith(".tar.gz")
    mtime = os.path.getmtime(first)
    assert pack_env(prefix=venv) == first and os.path.getmtime(first) == mtime  # reused
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "tinypkg").mkdir()
    (site / "tinypkg" / "__init__.py").write_text("VALUE = 42\n")
    (site / "tinypkg-1.0.dist-info").mkdir()
    (site / "tinypkg-1.0.dist-info" / "METADATA").write_text("Name: tinypkg\nVersion: 1.0\n")
    second = pack_env(prefix=venv)
    assert second != first  # a new distribution: a new archive
    relinked = pack_env(tmp_path / "prefixed.tgz", prefix=venv, python_prefix="/opt/python")
    with tarfile.open(relinked) as tar:
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
        names = set(tar.getnames())
    assert any(target.startswith("/opt/python/bin/") for target in links.values()), links
    assert f"{site.relative_to(venv)}/tinypkg/__init__.py" in names
