"""The package's KDC (scripts/kdc.sh) and kerberized HDFS (scripts/hdfs.sh start --kerberos)."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.security._procs import HDFS, KDC, assert_none_left, last_line, script

#: Seconds a delegation token of the package's HDFS lives after its issue or last renewal.
TOKEN_RENEW_S = 30


@pytest.fixture(scope="package")
def kerberized_hdfs(tmp_path_factory):
    """(uri, conf dir, krb5.conf, env of the scripts): stopped and checked at the end."""
    pytest.importorskip("hdfs_native")
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.skip("scripts/hdfs.sh --kerberos needs Java and Maven")
    base = tmp_path_factory.mktemp("kerberos")
    kdc_run, hdfs_run = base / "kdc", base / "hdfs"
    env = {**os.environ, "ZOO_TUNE_KDC_RUN": str(kdc_run), "ZOO_TUNE_HDFS_RUN": str(hdfs_run),
           "ZOO_TUNE_HDFS_PORT": "0",
           # delegation tokens expire TOKEN_RENEW_S after their last renewal: a fit outlives that
           "ZOO_TUNE_HDFS_TOKEN_RENEW_S": str(TOKEN_RENEW_S)}
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


@pytest.fixture(scope="package")
def kerberized_yarn(kerberized_hdfs, tmp_path_factory):
    """scripts/yarn.sh start --kerberos over ``kerberized_hdfs`` (its fs.defaultFS):
    (client HADOOP_CONF_DIR, RM REST URL, run dir, env of the scripts); stopped and checked at
    the end (status 3, no process left under its run dir)."""
    from tests.security._procs import SCRIPTS

    yarn = SCRIPTS / "yarn.sh"
    uri, hdfs_conf, _, hdfs_env = kerberized_hdfs
    run = tmp_path_factory.mktemp("kerberized_yarn")
    env = {**hdfs_env, "ZOO_TUNE_YARN_RUN": str(run), "ZOO_TUNE_YARN_DEFAULT_FS": uri,
           "ZOO_TUNE_YARN_HDFS_CONF": hdfs_conf}
    try:
        t0 = time.monotonic()
        started = script(yarn, "start", "--kerberos", env=env, timeout=600)
        if started.returncode != 0:
            print(script(yarn, "logs", env=env).stderr[-6000:])
        conf = last_line(started)
        print(f"yarn.sh start --kerberos {time.monotonic() - t0:.1f}s")
        rest = last_line(script(yarn, "rest", env=env))
        yield conf, rest, run, env
    finally:
        stop = script(yarn, "stop", env=env)
        assert stop.returncode == 0, stop.stderr
        assert script(yarn, "status", env=env).returncode == 3
        assert_none_left(str(run), timeout=30)
