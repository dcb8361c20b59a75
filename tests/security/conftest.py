"""The package's KDC (scripts/kdc.sh) and kerberized HDFS (scripts/hdfs.sh start --kerberos)."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.security._procs import HDFS, KDC, assert_none_left, last_line, script


@pytest.fixture(scope="package")
def kerberized_hdfs(tmp_path_factory):
    """(uri, conf dir, krb5.conf, env of the scripts): stopped and checked at the end."""
    pytest.importorskip("hdfs_native")
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.skip("scripts/hdfs.sh --kerberos needs Java and Maven")
    base = tmp_path_factory.mktemp("kerberos")
    kdc_run, hdfs_run = base / "kdc", base / "hdfs"
    env = {**os.environ, "ZOO_TUNE_KDC_RUN": str(kdc_run), "ZOO_TUNE_HDFS_RUN": str(hdfs_run),
           "ZOO_TUNE_HDFS_PORT": "0"}
    env.pop("KRB5_CONFIG", None)
    env.pop("HADOOP_CONF_DIR", None)
    try:
        t0 = time.monotonic()
        krb5_conf = last_line(script(KDC, "start", env=env, timeout=180))
        t1 = time.monotonic()
        env["KRB5_CONFIG"] = krb5_conf
        started = script(HDFS, "start", "--kerberos", env=env, timeout=600)
        if started.returncode != 0:
            print(script(HDFS, "logs", env=env).stderr[-6000:])
        uri = last_line(started)
        print(f"kdc.sh start {t1 - t0:.1f}s, "
              f"hdfs.sh start --kerberos {time.monotonic() - t1:.1f}s")
        conf = last_line(script(HDFS, "conf", env=env))
        yield uri, conf, krb5_conf, env
    finally:
        hdfs_stop = script(HDFS, "stop", env=env)
        kdc_stop = script(KDC, "stop", env=env)
        assert hdfs_stop.returncode == 0, hdfs_stop.stderr
        assert kdc_stop.returncode == 0, kdc_stop.stderr
        assert script(HDFS, "status", env=env).returncode == 3
        assert script(KDC, "status", env=env).returncode == 3
        assert_none_left(str(hdfs_run), timeout=30)
        assert_none_left(str(kdc_run))
