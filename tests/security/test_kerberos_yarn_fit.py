"""zoo_tune's yarn-client on the kerberized YARN and HDFS: trials in YARN containers write to
the kerberized HDFS with the delegation tokens YARN hands them.

The driver calls ``init_context("yarn-client", principal=, keytab=)``: Spark logs in from the
keytab and obtains HDFS delegation tokens for the containers; a trial there finds the keytab's
path but uses the tokens (``HADOOP_TOKEN_FILE_LOCATION``). The Python environment the
containers run is a two-file archive of shims (``bin/python``, ``bin/ray``) that exec this
venv by its path: every container is on this machine, and shipping the real 2.9 GB archive is
tested in tests/cluster (this test is about Kerberos, not packing).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap

import pytest

from tests.security._procs import KDC, last_line, script
from tests.security.conftest import TOKEN_RENEW_S

pytestmark = [pytest.mark.slow]

JOB = """
import hashlib, json, logging, os, sys, time
import numpy as np
logging.basicConfig(level=logging.WARNING, format="%(created).1f %(name)s %(message)s")
logging.getLogger("zoo_tune.cluster._token_refresh").setLevel(logging.INFO)  # each push's time
from zoo_tune import AutoEstimator, hp, init_context, stop_context

uri, keytab, archive, jars, record_dir = sys.argv[1:6]
EPOCH_S = float(sys.argv[6])
rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=120)
x = (np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(120, 4))).astype(np.float32)


def model_creator(config):
    from torch import nn

    record = {"container": os.environ.get("CONTAINER_ID"),
              "tokens": bool(os.environ.get("HADOOP_TOKEN_FILE_LOCATION"))}
    with open(os.path.join(record_dir, f"{os.getpid()}-{time.time_ns()}.json"), "w") as f:
        json.dump(record, f)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def slow_accuracy(y_true, y_pred):
    time.sleep(EPOCH_S)  # trials outlive the delegation tokens' renew interval
    tokens = os.environ.get("HADOOP_TOKEN_FILE_LOCATION")
    digest = tokens and hashlib.sha256(open(tokens, "rb").read()).hexdigest()
    with open(os.path.join(record_dir, "epochs.txt"), "a") as f:
        f.write(f"{time.time()} {digest}\\n")
    return float((np.asarray(y_pred).argmax(1) == y_true).mean())


ctx = init_context("yarn-client", num_nodes=1, cores=1, archive=archive,
                   executor_memory="512m", memory=2**30, object_store_memory=2**28,
                   principal="alice@ZOO.TEST", keytab=keytab,
                   spark_conf={"spark.yarn.jars": f"local:{jars}/*",
                               "spark.yarn.am.memory": "512m", "spark.ui.enabled": "false"})
app_id = ctx.spark.sparkContext.applicationId
est = AutoEstimator.from_torch(model_creator=model_creator, optimizer="SGD",
                               loss="CrossEntropyLoss", logs_dir=uri + "/user/alice/yarn",
                               name="kerb_yarn")
started = time.time()
est.fit((x, y), epochs=3, n_sampling=2, metric=slow_accuracy, metric_mode="max",
        search_space={"lr": hp.uniform(0.01, 0.1)}, verbose=0)
statuses = est.get_trial_table()["status"].tolist()
best = type(est.get_best_model()).__name__  # its checkpoint, read back from HDFS
stop_context()
import hdfs_native

client = hdfs_native.Client(uri, {"hadoop.security.authentication": "kerberos"},
                            kerberos_principal="alice@ZOO.TEST", kerberos_keytab=keytab)
owners = {}
checkpoints = 0
for status in client.list_status("/user/alice/yarn/kerb_yarn", recursive=True):
    owners[status.path] = status.owner
    checkpoints += "/checkpoint_" in status.path and status.isdir
records = [json.load(open(os.path.join(record_dir, n))) for n in os.listdir(record_dir)
           if n.endswith(".json")]
lines = open(os.path.join(record_dir, "epochs.txt")).read().splitlines()
epochs = [float(line.split()[0]) for line in lines]
token_files = sorted({line.split()[1] for line in lines})
print(json.dumps({"app_id": app_id, "statuses": statuses, "owners": owners,
                  "records": records, "started": started, "epoch_ends": epochs, "best": best,
                  "token_files": token_files,
                  "checkpoint_dirs": checkpoints}))
"""


def _shim_archive(path) -> None:
    """``bin/python`` and ``bin/ray`` that exec this venv's (containers are on this machine).

    ``bin/ray`` is Python, not shell: Ray on Spark runs it with the Python interpreter too.
    """
    venv_bin = os.path.dirname(sys.executable)
    shims = {"python": f'#!/bin/sh\nexec "{venv_bin}/python" "$@"\n',
             "ray": f"#!{venv_bin}/python\nimport os, sys\n"
                    f"os.execv({venv_bin + '/ray'!r}, [{venv_bin + '/ray'!r}, *sys.argv[1:]])\n"}
    with tarfile.open(path, "w:gz") as tar:
        for name, text in shims.items():
            data = text.encode()
            info = tarfile.TarInfo(f"bin/{name}")
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.timeout(900)
def test_yarn_client_trials_write_with_delegation_tokens(kerberized_yarn, kerberized_hdfs,
                                                         tmp_path):
    import pyspark

    conf, _, run, env = kerberized_yarn
    uri = kerberized_hdfs[0]
    keytab = last_line(script(KDC, "keytab", "alice", env=env))
    archive = tmp_path / "shim-env.tar.gz"
    _shim_archive(archive)
    records = tmp_path / "records"
    records.mkdir()
    job = tmp_path / "job.py"
    job.write_text(textwrap.dedent(JOB))
    home = tmp_path / "home"
    home.mkdir()
    client_env = {k: v for k, v in os.environ.items() if not k.startswith(("KRB5", "HADOOP_"))}
    client_env.update(HOME=str(home), KRB5_CONFIG=env["KRB5_CONFIG"], HADOOP_CONF_DIR=conf,
                      KRB5CCNAME=f"FILE:{tmp_path}/no-such-ccache", RAY_DEDUP_LOGS="0")
    client_env.pop("SPARK_HOME", None)
    jars = os.path.join(os.path.dirname(pyspark.__file__), "jars")
    epoch_s = TOKEN_RENEW_S / 2.5  # 2 trials x 3 epochs, one at a time: > 2 renew intervals
    proc = subprocess.run([sys.executable, str(job), uri, keytab, str(archive), jars,
                           str(records), str(epoch_s)], env=client_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=800)
    (tmp_path / "job.err").write_text(proc.stderr)
    python_error = proc.stderr[proc.stderr.rfind("Traceback"):][:4000]  # not the JVM's noise
    assert proc.returncode == 0, (proc.stdout[-2000:], python_error or proc.stderr[-6000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["statuses"] == ["TERMINATED"] * 2, out
    # The trials ran in YARN containers of the application, with its delegation tokens ...
    trials = [r for r in out["records"] if r["container"]]  # not fit's check on the driver
    app_tag = out["app_id"].replace("application_", "")
    assert len(trials) >= 2 and all(app_tag in r["container"] for r in trials), out["records"]
    assert all(r["tokens"] for r in trials), trials
    # ... and what they wrote on the kerberized HDFS is alice's, checkpoints included.
    assert out["owners"] and set(out["owners"].values()) == {"alice"}, out["owners"]
    assert out["checkpoint_dirs"] >= 2 and out["best"] == "Sequential", out
    # The fit outlived the tokens' renew interval more than twice and its last epochs still
    # wrote: Spark's new tokens reached the file the trials read (zoo_tune's token refresher
    # rewrote it: the trials saw more than one version of it).
    # Six epochs, no more: no trial failed and ran again (a push later than the tokens' expiry
    # fails the trial's next HDFS write; Ray Tune's retry would then hide it).
    pushes = [line for line in proc.stderr.splitlines() if "_token_refresh" in line]
    assert len(out["epoch_ends"]) == 6, (out, pushes)
    assert max(out["epoch_ends"]) - out["started"] > 2 * TOKEN_RENEW_S, out
    assert len(out["token_files"]) >= 2 and "None" not in out["token_files"], out
    # The first tokens name the ResourceManager as renewer (Spark's choice from
    # yarn.resourcemanager.principal), which took them on for the application.
    rm_log = (run / "logs" / "resourcemanager.log").read_text()
    assert "Renewed delegation-token= [Kind: HDFS_DELEGATION_TOKEN" in rm_log
    assert "renewer=rm," in rm_log, "the tokens' renewer is not the ResourceManager"
    # The executors' containers found the realm's krb5.conf (yarn.sh's admin-env, as
    # /etc/krb5.conf on a cluster): Java reads no KRB5_CONFIG.
    stderr = list(run.glob("nm-logs/application_*/container_*_000002/stderr"))
    assert stderr and "-Djava.security.krb5.conf=" in stderr[0].read_text()
