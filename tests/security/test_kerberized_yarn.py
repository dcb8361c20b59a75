"""A kerberized YARN (scripts/yarn.sh start --kerberos) over the kerberized HDFS.

The ResourceManager (rm/localhost@ZOO.TEST) and NodeManager (nm/localhost@ZOO.TEST) log in from
keytabs; clients use the conf dir that ``yarn.sh conf`` prints. The YARN client is Hadoop's own
``yarn node -list`` (``NodeCLI``, in pyspark's shaded hadoop-client jars), run with a ticket of
alice, with none, and with SIMPLE authentication. A Spark application on it, as alice, writing
to the kerberized HDFS from its containers with delegation tokens the ResourceManager renews:
test_kerberos_yarn_fit.py (zoo_tune's yarn-client).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
