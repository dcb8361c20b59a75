"""scripts/kdc.sh: a real MIT KDC on 127.0.0.1 from extracted Debian packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.security._procs import KDC, assert_none_left, last_line, script

pytestmark = pytest.mark.skipif(shutil.which("apt-get") is None
                                and not os.environ.get("ZOO_TUNE_KRB5_DEBS")
                                and not (Path.home() / ".cache/zoo_tune/krb5/root").exists(),
                                reason="scripts/kdc.sh needs apt-get (or ZOO_TUNE_KRB5_DEBS)")


@pytest.mark.timeout(240)
def test_kdc_start_keytab_kinit_stop(tmp_path):
    run = tmp_path / "kdc"
    env = {**os.environ, "ZOO_TUNE_KDC_RUN": str(run), "KRB5CCNAME": f"FILE:{tmp_path}/cc"}
    t0 = time.monotonic()
    conf = Path(last_line(script(KDC, "start", env=env, timeout=180)))
    print(f"kdc.sh start: {time.monotonic() - t0:.1f}s")
    try:
        text = conf.read_text()
        port = (run / "port").read_text().strip()
        assert f"kdc = 127.0.0.1:{port}" in text
        assert "default_realm = ZOO.TEST" in text and "udp_preference_limit = 1" in text
        assert oct((run / "master.pw").stat().st_mode & 0o777) == "0o600"
        assert script(KDC, "status", env=env).returncode == 0
        assert last_line(script(KDC, "start", env=env)) == str(conf)  # ours already runs

        keytab = Path(last_line(script(KDC, "keytab", "alice", env=env)))
        assert keytab.is_file() and oct(keytab.stat().st_mode & 0o777) == "0o600"
        ok = script(KDC, "run", "kinit", "-k", "-t", str(keytab), "alice@ZOO.TEST", env=env)
        assert ok.returncode == 0, ok.stderr
        klist = script(KDC, "run", "klist", env=env)
        assert "Default principal: alice@ZOO.TEST" in klist.stdout, klist.stdout + klist.stderr
        assert "krbtgt/ZOO.TEST@ZOO.TEST" in klist.stdout

        # The same path again, and the keytab exported first still works (keys kept).
        assert last_line(script(KDC, "keytab", "alice", env=env)) == str(keytab)
        assert script(KDC, "run", "kinit", "-k", "-t", str(keytab), "alice",
                      env=env).returncode == 0
        svc = Path(last_line(script(KDC, "keytab", "hdfs/localhost", env=env)))
        assert svc.name == "hdfs_localhost.keytab"
        listed = script(KDC, "run", "klist", "-k", "-t", str(svc), env=env).stdout
        assert "hdfs/localhost@ZOO.TEST" in listed

        bad = script(KDC, "run", "kinit", "alice@ZOO.TEST", env=env, timeout=30)
        # kinit reads the password from stdin (empty above): a wrong one.
        wrong = subprocess.run(["bash", str(KDC), "run", "kinit", "alice@ZOO.TEST"], env=env,
                               input="not-the-password\n", capture_output=True, text=True,
                               timeout=30)
        assert wrong.returncode != 0 and bad.returncode != 0
        assert "Password incorrect" in wrong.stderr, wrong.stderr
    finally:
        stop = script(KDC, "stop", env=env)
    assert stop.returncode == 0, stop.stderr
    assert_none_left(str(run))
    assert script(KDC, "status", env=env).returncode == 3
    assert script(KDC, "keytab", "bob", env=env).returncode != 0  # needs a running KDC
