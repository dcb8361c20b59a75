"""A kerberized HDFS (scripts/hdfs.sh start --kerberos) seen by hdfs-native, in subprocesses.

Each client runs in its own Python process: GSSAPI reads KRB5_CONFIG / KRB5CCNAME once per
process, and a keytab login must not leak into the no-credentials case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.security._procs import KDC, last_line, script

pytestmark = [pytest.mark.slow]

CLIENT = textwrap.dedent("""
    import json, sys
    import hdfs_native

    uri, keytab, path = sys.argv[1], sys.argv[2] or None, sys.argv[3]
    out = {}
    try:
        if keytab:
            client = hdfs_native.Client(uri, kerberos_principal="alice@ZOO.TEST",
                                        kerberos_keytab=keytab)
        else:
            client = hdfs_native.Client(uri)
        with client.create(path, hdfs_native.WriteOptions(overwrite=True)) as f:
            f.write(b"written with a Kerberos ticket")
        with client.read(path) as f:
            out["data"] = f.read().decode()
        status = client.get_file_info(path)
        out["owner"] = status.owner
        out["listed"] = [(s.path, s.owner) for s in client.list_status("/secure")]
    except Exception as e:  # noqa: BLE001 - reported to the test
        out["error"] = [type(e).__module__, type(e).__name__, str(e)]
    print(json.dumps(out))
""")


def _client(tmp_path, uri, conf, krb5_conf, keytab="", path="/secure/a.txt", timeout=60):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRB5", "HADOOP_"))}
    env.update(HOME=str(home), TMPDIR=str(tmp_path), KRB5_CONFIG=krb5_conf,
               KRB5CCNAME=f"FILE:{tmp_path}/no-such-ccache", HADOOP_CONF_DIR=conf)
    proc = subprocess.run([sys.executable, "-c", CLIENT, uri, keytab, path], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(900)
def test_no_ticket_is_refused(kerberized_hdfs, tmp_path):
    uri, conf, krb5_conf, _ = kerberized_hdfs
    out = _client(tmp_path, uri, conf, krb5_conf)
    print("no credentials:", out)
    assert "error" in out, out
    module, name, message = out["error"]
    assert name == "RuntimeError", out
    assert "GSS_S_NO_CRED" in message and "No Kerberos credentials available" in message


@pytest.mark.timeout(900)
def test_keytab_login_writes_and_reads_as_alice(kerberized_hdfs, tmp_path):
    uri, conf, krb5_conf, env = kerberized_hdfs
    assert uri.startswith("hdfs://127.0.0.1:")
    keytab = last_line(script(KDC, "keytab", "alice", env=env))
    out = _client(tmp_path, uri, conf, krb5_conf, keytab)
    assert "error" not in out, out
    assert out["data"] == "written with a Kerberos ticket"
    assert out["owner"] == "alice"
    assert [owner for path, owner in out["listed"] if path.endswith("a.txt")] == ["alice"], out
    # hdfs://localhost:PORT works too: the NameNode names its principal in SASL negotiation.
    port = uri.rsplit(":", 1)[1]
    out = _client(tmp_path, f"hdfs://localhost:{port}", conf, krb5_conf, keytab,
                  path="/secure/b.txt")
    assert out.get("owner") == "alice", out
