"""scripts/zoo-tune-submit: its input rules, the exact spark-submit commands (YARN included, as
far as this machine allows), and the spark-submit example job on the real standalone cluster."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

import pytest

from tests.cluster._spark_helpers import ENV, ROOT
from zoo_tune.cluster import _yarn

SUBMIT = ROOT / "scripts" / "zoo-tune-submit"
EXAMPLE = ROOT / "examples" / "spark_submit_tune.py"
PY = sys.executable  # passed as --python: pytest's own may be bin/python3
VENV_BIN = os.path.dirname(PY)


def submit(*args: str, env: dict | None = None, timeout: float = 60):
    base = {k: v for k, v in ENV.items() if k not in ("HADOOP_CONF_DIR", "YARN_CONF_DIR")}
    return subprocess.run(["bash", str(SUBMIT), *args], capture_output=True, text=True,
                          timeout=timeout, env={**base, **(env or {})}, cwd=ROOT)


@pytest.fixture
def hadoop_conf(tmp_path):
    (tmp_path / "yarn-site.xml").write_text("<configuration/>")
    return {"HADOOP_CONF_DIR": str(tmp_path)}


def test_help():
    out = submit("--help")
    assert out.returncode == 0
    assert out.stdout.startswith("usage: zoo-tune-submit --master URL")
    for option in ("--deploy-mode", "--archive", "--num-nodes", "--dry-run", "HADOOP_CONF_DIR"):
        assert option in out.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([str(EXAMPLE)], {}, "--master is required: spark://host:port or yarn"),
        (["--master", "local[2]", str(EXAMPLE)], {},
         "--master must be spark://host:port or yarn, but got 'local[2]'"),
        (["--master", "yarn", "--deploy-mode", "both", str(EXAMPLE)], {"conf": True},
         "--deploy-mode must be client or cluster, but got 'both'"),
        (["--master", "yarn", str(EXAMPLE)], {},
         "--master yarn needs HADOOP_CONF_DIR (or YARN_CONF_DIR)"),
        (["--master", "yarn", str(EXAMPLE)], {"HADOOP_CONF_DIR": "/nonexistent"},
         "HADOOP_CONF_DIR='/nonexistent' is not a directory"),
        (["--master", "yarn", "--archive", "env.zip", str(EXAMPLE)], {"conf": True},
         "--archive must be a .tar.gz or .tgz, but got 'env.zip'"),
        (["--master", "yarn", "--archive", "/nonexistent/e.tar.gz", str(EXAMPLE)],
         {"conf": True}, "--archive '/nonexistent/e.tar.gz' does not exist"),
        (["--master", "spark://h:1", "--archive", "e.tar.gz", str(EXAMPLE)], {},
         "--archive is for --master yarn"),
        (["--master", "spark://h:1", "--cores", "0", str(EXAMPLE)], {},
         "--cores must be a positive integer, but got '0'"),
        (["--master", "spark://h:1", "--node-memory", "lots", str(EXAMPLE)], {},
         "`--node-memory` must be an int of bytes or a size string with a unit like '512m', '2g' "
         "or '1.5g' (k, m, g, t; 1024-based), but got 'lots'"),
        (["--master", "spark://h:1", "--spare-executors", "-1", str(EXAMPLE)], {},
         "--spare-executors must be an integer >= 0, but got '-1'"),
        (["--master", "spark://h:1", "--conf", "x=1", str(EXAMPLE)], {},
         "--conf takes KEY=VALUE with a spark.* key, but got 'x=1'"),
        (["--master", "spark://h:1", "--frobnicate", str(EXAMPLE)], {},
         "unknown option '--frobnicate'"),
        (["--master", "spark://h:1", "nope.py"], {}, "script 'nope.py' does not exist"),
        (["--master", "yarn", "--principal", "alice@ZOO.TEST", str(EXAMPLE)], {"conf": True},
         "--principal needs --keytab too"),
        (["--master", "yarn", "--principal", "alice@ZOO.TEST", "--keytab", "/nonexistent.kt",
          str(EXAMPLE)], {"conf": True}, "--keytab '/nonexistent.kt' is not a readable file"),
        (["--master", "spark://h:1"], {}, "no SCRIPT.py given"),
    ],
)
def test_bad_input(args, env, message, hadoop_conf):
    if env.pop("conf", False):
        env = {**env, **hadoop_conf}
    out = submit(*args, env=env)
    assert out.returncode == 2, out
    assert f"zoo-tune-submit: error: {message}" in out.stderr, out.stderr


def test_dry_run_standalone_command():
    out = submit("--dry-run", "--python", PY, "--master", "spark://127.0.0.1:7077",
                 "--num-nodes", "2", "--node-memory", "1g", "--conf", "spark.app.name=digits",
                 str(EXAMPLE), "--trials", "4")
    assert out.returncode == 0, out.stderr
    path_rest = ":".join(p for p in ENV["PATH"].split(":") if p and p != VENV_BIN)
    assert shlex.split(out.stdout) == [
        f"{VENV_BIN}/spark-submit", "--master", "spark://127.0.0.1:7077",
        "--conf", "spark.executor.cores=1", "--conf", "spark.executor.memory=1024m",
        # 2 Ray nodes + 1 spare executor for Spark's own jobs
        "--conf", "spark.cores.max=3", "--conf", "spark.zoo_tune.numNodes=2",
        "--conf", "spark.zoo_tune.spareExecutors=1",
        "--conf", f"spark.zoo_tune.nodeMemory={1024**3}",
        "--conf", f"spark.zoo_tune.objectStoreMemory={256 * 1024**2}",
        "--conf", f"spark.pyspark.python={PY}", "--conf", f"spark.pyspark.driver.python={PY}",
        "--conf", f"spark.executorEnv.PATH={VENV_BIN}:{path_rest}",
        "--conf", "spark.executorEnv.RAY_ON_SPARK_RAY_WORKER_NODE_STARTUP_INTERVAL=5",
        "--conf", "spark.speculation=false", "--conf", "spark.ui.showConsoleProgress=false",
        "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
        "--conf", "spark.app.name=digits", str(EXAMPLE), "--trials", "4"]


@pytest.mark.parametrize("deploy_mode", ["client", "cluster"])
def test_dry_run_yarn_command_matches_yarn_conf(deploy_mode, hadoop_conf, tmp_path):
    """The YARN command carries exactly the conf init_context('yarn-client') would build."""
    archive = tmp_path / "env.tar.gz"
    archive.write_bytes(b"")
    out = submit("--dry-run", "--python", PY, "--master", "yarn", "--deploy-mode", deploy_mode,
                 "--archive", str(archive), "--num-nodes", "3", "--cores", "2",
                 "--executor-memory", "2g", "--node-memory", "1g", "--object-store-memory", "256m",
                 str(EXAMPLE), env=hadoop_conf)
    assert out.returncode == 0, out.stderr
    argv = shlex.split(out.stdout)
    assert argv[:5] == [f"{VENV_BIN}/spark-submit", "--master", "yarn", "--deploy-mode",
                        deploy_mode]
    assert argv[-1] == str(EXAMPLE)
    pairs = argv[5:-1]
    assert pairs[::2] == ["--conf"] * (len(pairs) // 2)
    conf = dict(kv.split("=", 1) for kv in pairs[1::2])
    assert len(conf) == len(pairs) // 2  # no key twice
    expected = _yarn.yarn_conf(deploy_mode, archive=str(archive), app_name="-", cores=2,
                               num_nodes=3, executor_memory="2048m", node_memory=1024**3,
                               object_store_memory=256 * 1024**2)
    # master, deploy mode and app name travel as spark-submit's own flags / defaults
    for key in ("spark.master", "spark.submit.deployMode", "spark.app.name"):
        expected.pop(key)
    expected["spark.zoo_tune.nodeMemory"] = str(1024**3)
    expected["spark.zoo_tune.objectStoreMemory"] = str(256 * 1024**2)
    assert conf == expected


def test_dry_run_kerberos_flags_go_to_spark_submit(hadoop_conf, tmp_path):
    keytab = tmp_path / "alice.keytab"
    keytab.write_bytes(b"\x05\x02")
    out = submit("--dry-run", "--python", PY, "--master", "yarn", "--archive", "hdfs:///e.tar.gz",
                 "--principal", "alice@ZOO.TEST", "--keytab", str(keytab), str(EXAMPLE),
                 env=hadoop_conf)
    assert out.returncode == 0, out.stderr
    argv = shlex.split(out.stdout)
    assert argv[5:9] == ["--principal", "alice@ZOO.TEST", "--keytab", str(keytab)]


@pytest.mark.slow
def test_example_through_zoo_tune_submit_on_standalone(spark_master, tmp_path):
    """examples/spark_submit_tune.py under spark-submit: 4 trials on 2 executor Ray nodes."""
    import psutil

    records = tmp_path / "records"
    records.mkdir()
    start = time.monotonic()
    out = submit("--python", PY, "--master", spark_master, "--num-nodes", "2",
                 "--node-memory", "1g", "--object-store-memory", "256m",
                 "--conf", f"spark.executorEnv.ZOO_TUNE_RECORD_DIR={records}",
                 str(EXAMPLE), "--trials", "4", "--epochs", "3",
                 "--logs-dir", str(tmp_path / "logs"), timeout=600)
    wall_s = time.monotonic() - start
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-6000:])
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert "best validation accuracy: " in out.stdout
    assert summary["statuses"] == ["TERMINATED"] * 4
    assert summary["ray_worker_nodes"] == 2 and summary["master"] == spark_master
    assert summary["accuracy"] > 0.85, summary
    seen = [json.loads(p.read_text()) for p in records.iterdir()]
    assert len(seen) >= 4 and len({r["node_id"] for r in seen}) >= 2, seen
    # Nothing the job started is left: no process carries its record dir in its environment.
    deadline = time.monotonic() + 30
    while True:
        left = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if proc.environ().get("ZOO_TUNE_RECORD_DIR") == str(records):
                    left.append(" ".join(proc.info["cmdline"] or ())[:160])
            except psutil.Error:
                continue
        if not left or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert left == []
    assert wall_s < 400, wall_s


@pytest.mark.slow
def test_yarn_mode_under_spark_submit_on_a_standalone_master_is_refused(spark_master, tmp_path,
                                                                        hadoop_conf):
    """A driver spark-submit started, but not on YARN: the YARN mode says so and stops."""
    script = tmp_path / "job.py"
    script.write_text(
        "import json\n"
        "from zoo_tune import init_context\n"
        "from zoo_tune.errors import InvalidInputError\n"
        "try:\n"
        "    init_context(cluster_mode='yarn-client')\n"
        "    print(json.dumps({'error': None}))\n"
        "except InvalidInputError as err:\n"
        "    print(json.dumps({'error': str(err)}))\n")
    out = submit("--python", PY, "--master", spark_master, str(script), env=hadoop_conf,
                 timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    error = json.loads(out.stdout.strip().splitlines()[-1])["error"]
    assert error == (
        f"cluster_mode='yarn-client' needs a driver on YARN in client deploy mode, but this one "
        f"runs on master={spark_master!r} with deployMode='client'. Launch with "
        f"scripts/zoo-tune-submit --master yarn --deploy-mode client, or use "
        f"cluster_mode='spark-submit' to take whatever spark-submit configured.")
