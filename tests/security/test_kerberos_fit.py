"""zoo_tune's fit and load on the kerberized HDFS (scripts/hdfs.sh start --kerberos).

Each run is a fresh Python (GSSAPI reads KRB5_CONFIG / KRB5CCNAME once per process) with no
ticket cache: without credentials ``fit`` and ``AutoEstimator.load`` stop with
``KerberosRequiredError`` before any trial; with ``init_context(principal=, keytab=)`` the
trials write their results there, owned by the principal.
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

PRELUDE = """
import json, logging, os, sys, time
import numpy as np
logging.basicConfig(level=logging.WARNING)
from zoo_tune import AutoEstimator, hp, init_context, stop_context
from zoo_tune.storage._kerberos import KerberosRequiredError

uri, keytab = sys.argv[1], sys.argv[2] or None
rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=120)
x = (np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(120, 4))).astype(np.float32)


def model_creator(config):
    from torch import nn

    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def fit(logs_dir):
    est = AutoEstimator.from_torch(model_creator=model_creator, optimizer="SGD",
                                   loss="CrossEntropyLoss", logs_dir=logs_dir, name="kerb")
    est.fit((x, y), epochs=1, n_sampling=2, metric="accuracy",
            search_space={"lr": hp.uniform(0.01, 0.1)}, verbose=0)
    return est
"""

NO_CREDENTIALS = PRELUDE + """
out = {}
start = time.monotonic()
try:
    fit(uri + "/user/nobody")
    out["fit"] = "ran"
except KerberosRequiredError as err:
    out["fit_error"] = str(err)
out["fit_s"] = time.monotonic() - start
start = time.monotonic()
try:
    AutoEstimator.load(uri + "/user/nobody/kerb")
    out["load"] = "loaded"
except KerberosRequiredError as err:
    out["load_error"] = str(err)
out["load_s"] = time.monotonic() - start
out["ray_started"] = "ray" in sys.modules and sys.modules["ray"].is_initialized()
print(json.dumps(out))
"""

WITH_KEYTAB = PRELUDE + """
ctx = init_context("local", cores=2, principal="alice@ZOO.TEST", keytab=keytab)
est = fit(uri + "/user/alice")
table = est.get_trial_table()
stop_context()
import hdfs_native

client = hdfs_native.Client(uri, {"hadoop.security.authentication": "kerberos"},
                            kerberos_principal="alice@ZOO.TEST", kerberos_keytab=keytab)
owners = {}
for status in client.list_status("/user/alice/kerb"):
    owners[status.path.rsplit("/", 1)[-1]] = status.owner
print(json.dumps({"statuses": table["status"].tolist(), "owners": owners,
                  "env_left": [k for k in os.environ if k.startswith("ZOO_TUNE_KERBEROS")]}))
"""


def _run(body, tmp_path, uri, krb5_conf, conf, keytab="", timeout=300):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KRB5", "HADOOP_"))}
    env.update(HOME=str(home), KRB5_CONFIG=krb5_conf, HADOOP_CONF_DIR=conf,
               KRB5CCNAME=f"FILE:{tmp_path}/no-such-ccache", RAY_DEDUP_LOGS="0")
    script_path = tmp_path / "job.py"
    script_path.write_text(textwrap.dedent(body))
    proc = subprocess.run([sys.executable, str(script_path), uri, keytab], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(600)
def test_without_credentials_fit_and_load_say_kerberos_is_needed(kerberized_hdfs, tmp_path):
    uri, conf, krb5_conf, _ = kerberized_hdfs
    out = _run(NO_CREDENTIALS, tmp_path, uri, krb5_conf, conf)
    for key in ("fit_error", "load_error"):
        assert key in out, out
        assert "is on a Kerberos-secured HDFS" in out[key], out[key]
        assert "kinit" in out[key] and "principal=" in out[key] and "keytab=" in out[key]
    # Before any trial (Ray never started) and fast: a missing credential is not an outage.
    assert out["ray_started"] is False
    assert out["fit_s"] < 30 and out["load_s"] < 30, out


@pytest.mark.timeout(600)
def test_keytab_fit_writes_as_the_principal(kerberized_hdfs, tmp_path):
    uri, conf, krb5_conf, env = kerberized_hdfs
    keytab = last_line(script(KDC, "keytab", "alice", env=env))
    out = _run(WITH_KEYTAB, tmp_path, uri, krb5_conf, conf, keytab)
    assert out["statuses"] == ["TERMINATED"] * 2, out
    assert out["owners"] and set(out["owners"].values()) == {"alice"}, out
    assert out["env_left"] == []  # stop_context took the credentials back
