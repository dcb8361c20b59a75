"""A kerberized YARN (scripts/yarn.sh start --kerberos) over the kerberized HDFS.

The ResourceManager (rm/localhost@ZOO.TEST) and NodeManager (nm/localhost@ZOO.TEST) log in from
keytabs; clients use the conf dir that ``yarn.sh conf`` prints. The YARN client is Hadoop's own
``yarn node -list`` (``NodeCLI``, in pyspark's shaded hadoop-client jars), run with a ticket of
alice, with none, and with SIMPLE authentication; then spark-submit runs a PySpark application
on YARN as alice (--principal/--keytab), whose executor writes to the kerberized HDFS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.security._procs import KDC, last_line, script

pytestmark = [pytest.mark.slow]

VENV_BIN = Path(sys.executable).parent
JAVA = (os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME")
        else shutil.which("java") or "java")


def _pyspark_jars() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def _client_env(tmp_path, env: dict, conf: str, ccache: str) -> dict:
    """The caller's environment less Kerberos and Hadoop settings, plus ours."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    out = {k: v for k, v in os.environ.items() if not k.startswith(("KRB5", "HADOOP_"))}
    out.update(HOME=str(home), TMPDIR=str(tmp_path), KRB5_CONFIG=env["KRB5_CONFIG"],
               KRB5CCNAME=f"FILE:{ccache}", HADOOP_CONF_DIR=conf,
               ZOO_TUNE_KDC_RUN=env["ZOO_TUNE_KDC_RUN"])
    return out


def _node_list(tmp_path, env: dict, conf: str, ccache: str) -> subprocess.CompletedProcess:
    """`yarn node -list -all` (Hadoop 3.3.4's NodeCLI) against the kerberized RM."""
    cmd = [JAVA, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
           f"-Djava.security.krb5.conf={env['KRB5_CONFIG']}",
           "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
           "-cp", f"{conf}:{_pyspark_jars()}/*", "org.apache.hadoop.yarn.client.cli.NodeCLI",
           "-D", "ipc.client.connect.max.retries=0", "-list", "-all"]
    return subprocess.run(cmd, env=_client_env(tmp_path, env, conf, ccache),
                          capture_output=True, text=True, timeout=180)


def _first_error(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if "Exception" in ln]
    return lines[0] if lines else proc.stderr[-2000:]


def _core_site(conf: str) -> str:
    return (Path(conf) / "core-site.xml").read_text()


@pytest.mark.timeout(900)
def test_kerberos_client_sees_the_nodemanager_and_others_are_refused(kerberized_yarn, tmp_path):
    conf, rest, run, env = kerberized_yarn
    # The client conf dir is complete: Kerberos on, the HDFS's principals, the RM's principal.
    assert "<name>hadoop.security.authentication</name><value>kerberos</value>" in \
        _core_site(conf)
    assert "dfs.namenode.kerberos.principal" in (Path(conf) / "hdfs-site.xml").read_text()
    assert "<name>yarn.resourcemanager.principal</name><value>rm/localhost@ZOO.TEST</value>" in \
        (Path(conf) / "yarn-site.xml").read_text()
    rm_log = (run / "logs" / "resourcemanager.log").read_text()
    nm_log = (run / "logs" / "nodemanager.log").read_text()
    assert "Login successful for user rm/localhost@ZOO.TEST" in rm_log
    assert "Login successful for user nm/localhost@ZOO.TEST" in nm_log
    assert "Auth successful for nm/localhost@ZOO.TEST (auth:KERBEROS)" in rm_log

    keytab = last_line(script(KDC, "keytab", "alice", env=env))
    ccache = tmp_path / "alice.ccache"
    kinit = script(KDC, "run", "kinit", "-k", "-t", keytab, "alice@ZOO.TEST",
                   env={**env, "KRB5CCNAME": f"FILE:{ccache}"})
    assert kinit.returncode == 0, kinit.stderr
    with_ticket = _node_list(tmp_path, env, conf, str(ccache))
    print("with alice's ticket:", with_ticket.stdout)
    assert with_ticket.returncode == 0, with_ticket.stderr[-3000:]
    assert "Total Nodes:1" in with_ticket.stdout
    assert "RUNNING" in with_ticket.stdout
    assert "Auth successful for alice@ZOO.TEST (auth:KERBEROS)" in \
        (run / "logs" / "resourcemanager.log").read_text()

    # No ticket: the client refuses to go on (the RM offers TOKEN and KERBEROS only).
    no_ticket = _node_list(tmp_path, env, conf, str(tmp_path / "no-such-ccache"))
    print("no ticket:", _first_error(no_ticket))
    assert no_ticket.returncode != 0
    assert "Client cannot authenticate via:[TOKEN, KERBEROS]" in no_ticket.stderr

    # A client that does not know about Kerberos (SIMPLE): the RM refuses it.
    simple = tmp_path / "simple-conf"
    shutil.copytree(conf, simple)
    (simple / "core-site.xml").write_text(_core_site(conf).replace(
        "<name>hadoop.security.authentication</name><value>kerberos</value>",
        "<name>hadoop.security.authentication</name><value>simple</value>"))
    refused = _node_list(tmp_path, env, str(simple), str(tmp_path / "no-such-ccache"))
    print("SIMPLE:", _first_error(refused))
    assert refused.returncode != 0
    assert "SIMPLE authentication is not enabled.  Available:[TOKEN, KERBEROS]" in \
        refused.stderr


APP = textwrap.dedent("""
    import sys
    from pyspark.sql import SparkSession

    uri = sys.argv[1]
    spark = SparkSession.builder.appName("kerberized-yarn-smoke").getOrCreate()
    count = spark.range(10).count()
    # A Python task in the executor (a YARN container): it reads nothing, just runs.
    n = spark.sparkContext.parallelize(range(10), 1).map(lambda x: x * 2).count()
    spark.createDataFrame([(f"count={count} n={n}",)], ["value"]).coalesce(1).write.mode(
        "overwrite").text(uri + "/user/alice/out")
    print("RESULT", count, n)
    spark.stop()
""")

OWNER = textwrap.dedent("""
    import json, sys
    import hdfs_native

    uri, keytab, path = sys.argv[1:4]
    client = hdfs_native.Client(uri, {"hadoop.security.authentication": "kerberos"},
                                kerberos_principal="alice@ZOO.TEST", kerberos_keytab=keytab)
    out = []
    for s in client.list_status(path):
        data = ""
        if s.path.endswith(".txt"):
            with client.read(s.path) as f:
                data = f.read().decode()
        out.append([s.path, s.owner, data])
    print(json.dumps(out))
""")


@pytest.mark.timeout(900)
def test_spark_on_kerberized_yarn_writes_as_alice(kerberized_yarn, kerberized_hdfs, tmp_path):
    conf, _, run, env = kerberized_yarn
    uri = kerberized_hdfs[0]
    keytab = last_line(script(KDC, "keytab", "alice", env=env))
    app = tmp_path / "app.py"
    app.write_text(APP)
    krb5 = f"-Djava.security.krb5.conf={env['KRB5_CONFIG']}"
    cmd = [str(VENV_BIN / "spark-submit"), "--master", "yarn", "--deploy-mode", "client",
           "--principal", "alice@ZOO.TEST", "--keytab", keytab,
           "--conf", "spark.executor.instances=1", "--conf", "spark.executor.memory=512m",
           "--conf", "spark.yarn.am.memory=512m", "--conf", "spark.ui.enabled=false",
           # The jars are on this machine (the only node): not zipped and staged on HDFS.
           "--conf", f"spark.yarn.jars=local:{_pyspark_jars()}/*",
           # Java reads no KRB5_CONFIG. The containers get the krb5.conf from the NodeManager
           # (as from /etc/krb5.conf on a real cluster), the driver here needs it given.
           "--driver-java-options", krb5,
           str(app), uri]
    client_env = _client_env(tmp_path, env, conf, str(tmp_path / "no-such-ccache"))
    client_env.update(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
                      SPARK_LOCAL_IP="127.0.0.1")
    client_env.pop("SPARK_HOME", None)
    proc = subprocess.run(cmd, env=client_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-6000:]
    assert "RESULT 10 10" in proc.stdout
    # The HDFS delegation token names the RM as renewer, and the RM renewed it.
    assert "with renewer rm/localhost@ZOO.TEST" in proc.stderr
    rm_log = (run / "logs" / "resourcemanager.log").read_text()
    assert "Renewed delegation-token= [Kind: HDFS_DELEGATION_TOKEN" in rm_log
    # The executor ran in a container of ours, which found the krb5.conf.
    stderr = list(run.glob("nm-logs/application_*/container_*_000002/stderr"))
    assert stderr
    assert "Picked up JAVA_TOOL_OPTIONS: -Djava.security.krb5.conf=" in stderr[0].read_text()

    owner = subprocess.run([sys.executable, "-c", OWNER, uri, keytab, "/user/alice/out"],
                           env=client_env, capture_output=True, text=True, timeout=120)
    assert owner.returncode == 0, owner.stderr[-3000:]
    listed = json.loads(owner.stdout.strip().splitlines()[-1])
    print("written:", listed)
    assert listed and {o for _, o, _ in listed} == {"alice"}, listed
    assert [d for p, _, d in listed if p.endswith(".txt")] == ["count=10 n=10\n"], listed
