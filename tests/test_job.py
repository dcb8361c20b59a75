"""zoo-tune run JOB.yaml: validation with line numbers, and a real job end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from zoo_tune import hp
from zoo_tune.errors import InvalidInputError
from zoo_tune.job import load_job

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(tmp_path, text, name="job.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_shipped_example_job_is_valid():
    job = load_job(os.path.join(ROOT, "conf", "digits_job.yaml"))
    assert job.search_space["lr"] == hp.loguniform(0.001, 0.01)
    assert job.search_space["channels"] == hp.choice([8, 16])
    assert job.search_space["hidden"] == hp.grid_search([32, 64])


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("model: m:f\ndata: m:d\nsearch_space: {lr: 0.1}\nepochs: 3\n",
         r"line 4, key 'epochs': unknown key. Valid keys: \['cluster', 'data'"),
        ("model: m:f\ndata: m:d\nsearch_space: {lr: 0.1}\nfit:\n  epoch: 3\n",
         r"line 5, key 'fit.epoch': unknown fit argument. Valid: \[.*'epochs'"),
        ("model: m:f\ndata: m:d\nsearch_space:\n  lr: {uniform: [1, 0.1]}\n",
         r"line 4, key 'search_space.lr': hp.uniform: `lower < upper` must hold"),
        ("model: m:f\nsearch_space: {lr: 0.1}\n", r"missing required key 'data'"),
        ("model: m:f\ndata: [\n", r"not valid YAML"),
        ("model: m:f\ndata: m:d\nframework: jax\nsearch_space: {lr: 0.1}\n",
         r"line 3, key 'framework': must be 'torch' or 'keras'"),
    ],
)
def test_malformed_jobs_name_line_and_key(tmp_path, text, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        load_job(write(tmp_path, text))


def test_cli_reports_malformed_job_and_exits_1(tmp_path):
    job = write(tmp_path, "model: m:f\ndata: m:d\nsearch_space: {lr: 0.1}\nbogus: 1\n")
    out = subprocess.run([sys.executable, "-m", "zoo_tune.cli", "run", job],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "line 4, key 'bogus'" in out.stderr


def test_yaml_job_runs_end_to_end(tmp_path):
    (tmp_path / "tiny_job.py").write_text(textwrap.dedent("""
        import numpy as np
        import torch

        def model(config):
            return torch.nn.Sequential(torch.nn.Linear(4, config["hidden"]), torch.nn.ReLU(),
                                       torch.nn.Linear(config["hidden"], 2))

        def data():
            rng = np.random.default_rng(0)
            x = rng.normal(size=(128, 4)).astype("float32")
            y = (x[:, 0] > 0).astype("int64")
            return (x[:96], y[:96]), (x[96:], y[96:])
    """))
    job = write(tmp_path, f"""
        framework: torch
        model: tiny_job:model
        optimizer: Adam
        loss: CrossEntropyLoss
        data: tiny_job:data
        logs_dir: {tmp_path / "logs"}
        name: yaml_run
        cluster: {{cluster_mode: local, cores: 2, memory: 2g, object_store_memory: 200m}}
        search_space:
          hidden: {{grid_search: [4, 8]}}
          lr: {{loguniform: [0.01, 0.1]}}
        fit: {{epochs: 2, metric: accuracy, verbose: 0}}
    """)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    out = subprocess.run([sys.executable, "-m", "zoo_tune.cli", "run", job], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"experiment: {tmp_path / 'logs' / 'yaml_run'}" in out.stdout
    assert "best config: {'hidden': " in out.stdout
    assert len([d for d in os.listdir(tmp_path / "logs" / "yaml_run")
                if d.startswith("trial_")]) == 2


# --- data / validation_data from a Spark source (zoo_tune/_job_data.py) ---

SOURCE_JOB = "model: m:f\nsearch_space: {lr: 0.1}\ncluster: {cluster_mode: yarn-client}\n"
PARQUET = "data:\n  format: parquet\n  path: /d/train.parquet\n"
COLS = "  feature_cols: [x]\n  label_cols: [y]\n"
SOURCE_KEYS_RE = (r"Valid keys: \['format', 'path', 'options', 'table', 'feature_cols', "
                  r"'label_cols'\]")
FORMATS_RE = r"\['parquet', 'csv', 'orc', 'json'\]"
MODES_RE = (r"\['standalone', 'local-cluster', 'spark-submit', 'yarn-client', 'yarn-cluster', "
            r"'raydp'\]")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (PARQUET + COLS + "  fromat: csv\n",
         r"line 9, key 'data.fromat': unknown key of a Spark source. " + SOURCE_KEYS_RE
         + r". Did you mean 'format'\?"),
        (PARQUET + COLS + "  table: db.t\n",
         r"line 4, key 'data': a Spark source needs exactly one of 'path' \(with 'format', one "
         r"of " + FORMATS_RE + r"\) and 'table' \(a catalog table\), got both"),
        ("data:\n  format: csv\n" + COLS, r"line 4, key 'data': .*exactly one of 'path'.*"
                                          r"and 'table'.*got neither"),
        ("data:\n  path: /d/x.csv\n" + COLS,
         r"line 4, key 'data': 'path' needs 'format', one of " + FORMATS_RE),
        ("data:\n  format: avro\n  path: /d/x.avro\n" + COLS,
         r"line 5, key 'data.format': unknown format 'avro'. Valid choices: " + FORMATS_RE),
        ("data:\n  table: db.t\n  format: parquet\n" + COLS,
         r"line 6, key 'data.format': does not go with 'table'"),
        ("data:\n  table: db.t\n  path: /d/t\n" + COLS, r"key 'data': .*got both"),
        ("data:\n  table: db.t\n  options: {a: b}\n" + COLS,
         r"line 6, key 'data.options': does not go with 'table'"),
        ("data:\n  table: ''\n" + COLS,
         r"line 5, key 'data.table': must be a non-empty string, got ''"),
        (PARQUET + "  label_cols: [y]\n",
         r"line 4, key 'data': a Spark source needs 'feature_cols'"),
        (PARQUET + "  feature_cols: x\n",
         r"line 4, key 'data': a Spark source needs 'label_cols'"),
        (PARQUET + "  feature_cols: []\n  label_cols: y\n",
         r"line 7, key 'data.feature_cols': must be a column name or a non-empty list of column "
         r"names, got \[\]"),
        (PARQUET + "  feature_cols: [x, 1]\n  label_cols: y\n",
         r"line 7, key 'data.feature_cols': must be a column name or a non-empty list"),
        (PARQUET + "  options: [header]\n" + COLS,
         r"line 7, key 'data.options': must be a mapping of option name -> scalar"),
        (PARQUET + "  options:\n    header: [true]\n" + COLS,
         r"line 8, key 'data.options.header': must be a scalar \(string, number or boolean\)"),
        ("data: m:d\nvalidation_data: {table: db.v}\n",
         r"line 5, key 'validation_data': takes a Spark source, so 'data' must be one too"),
        (PARQUET + COLS + "validation_data: m:v\n",
         r"line 9, key 'validation_data': must be a Spark source like 'data' \(keys "
         r"\['format', 'path'.*\]\), got 'm:v'"),
        (PARQUET + COLS + "validation_data: {table: db.v, label_cols: [z]}\n",
         r"line 9, key 'validation_data.label_cols': must equal data.label_cols \['y'\] \(or be "
         r"left out\), got \['z'\]"),
        (PARQUET + COLS + "validation_data: {table: db.v, bogus: 1}\n",
         r"line 9, key 'validation_data.bogus': unknown key of a Spark source. " + SOURCE_KEYS_RE),
        (PARQUET + COLS + "fit: {feature_cols: [x]}\n",
         r"line 9, key 'fit.feature_cols': goes in data.feature_cols \(and "
         r"validation_data.feature_cols\) when data is a Spark source"),
    ],
    ids=["unknown-key", "path-and-table", "neither", "no-format", "unknown-format",
         "table-with-format", "table-with-path", "table-with-options", "empty-table",
         "no-feature-cols", "no-label-cols", "empty-cols", "non-string-col", "options-list",
         "option-not-scalar", "validation-source-data-function", "validation-function",
         "validation-cols-differ", "validation-unknown-key", "fit-feature-cols"],
)
def test_malformed_spark_sources_name_line_key_and_choices(tmp_path, text, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        load_job(write(tmp_path, SOURCE_JOB + text))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("cluster", "pattern"),
    [
        ("", r"key 'cluster.cluster_mode': data from a Spark source needs a SparkSession, which "
             r"cluster_mode='local' \(the default\) does not start; use one of " + MODES_RE),
        ("cluster:\n  cluster_mode: ray\n  address: auto\n",
         r"line 9, key 'cluster.cluster_mode': .*cluster_mode='ray' does not start; use one of "
         + MODES_RE),
        ("cluster: yarn-client\n", r"line 8, key 'cluster': must be a mapping of init_context"),
    ],
    ids=["default-local", "ray", "not-a-mapping"],
)
def test_spark_source_needs_a_cluster_mode_with_spark(tmp_path, cluster, pattern):
    text = "model: m:f\nsearch_space: {lr: 0.1}\n" + PARQUET + COLS + cluster
    with pytest.raises(InvalidInputError, match=pattern):
        load_job(write(tmp_path, text))


@pytest.mark.timeout(120)
def test_spark_sources_parse_with_defaults(tmp_path):
    from zoo_tune._job_data import SparkSource

    job = load_job(write(tmp_path, SOURCE_JOB + textwrap.dedent("""\
        data:
          format: CSV
          path: hdfs://127.0.0.1:9000/d/train.csv
          options: {header: true, inferSchema: yes, samplingRatio: 0.5, sep: ";"}
          feature_cols: pixels
          label_cols: [label]
        validation_data: {table: db.val, feature_cols: [pixels]}
        fit: {epochs: 1, validation_split: 0.1}
    """)))
    assert job.data_source == SparkSource(
        ("pixels",), ("label",), "csv", "hdfs://127.0.0.1:9000/d/train.csv",
        options={"header": "true", "inferSchema": "true", "samplingRatio": "0.5", "sep": ";"})
    assert job.validation_source == SparkSource(("pixels",), ("label",), table="db.val")
    assert job.data_source.fit_columns() == {"feature_cols": ["pixels"], "label_cols": ["label"]}
    shipped = load_job(os.path.join(ROOT, "conf", "digits_job.yaml"))
    assert (shipped.data_source, shipped.validation_source) == (None, None)


@pytest.mark.timeout(180)
def test_run_job_reads_sources_with_the_contexts_session(tmp_path, monkeypatch):
    """Wiring only (a recording stand-in for the session): init_context, read, fit, stop."""
    import zoo_tune
    from zoo_tune import AutoEstimator

    calls = []

    class Reader:
        def format(self, fmt):
            calls.append(("format", fmt))
            return self

        def options(self, **options):
            calls.append(("options", options))
            return self

        def load(self, path):
            calls.append(("load", path))
            return f"frame of {path}"

    class Spark:
        read = Reader()

        def table(self, name):
            calls.append(("table", name))
            return f"frame of {name}"

    class Context:
        spark = Spark()

    def init_context(**cluster):
        calls.append(("init_context", cluster))
        return Context()

    def fit(est, data, **kwargs):
        calls.append(("fit", data, kwargs))
        raise RuntimeError("stop here")

    monkeypatch.setattr(zoo_tune, "init_context", init_context)
    monkeypatch.setattr(zoo_tune, "stop_context", lambda: calls.append(("stop_context",)))
    (tmp_path / "tiny_src.py").write_text("import torch\n\ndef model(config):\n"
                                         "    return torch.nn.Linear(2, 2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    job = load_job(write(tmp_path, """\
        model: tiny_src:model
        data: {format: csv, path: /d/train.csv, options: {header: true}, feature_cols: x,
               label_cols: [y]}
        validation_data: {table: db.val}
        cluster: {cluster_mode: raydp, num_nodes: 1}
        search_space: {lr: 0.1}
        fit: {epochs: 2}
    """))
    from zoo_tune.job import run_job

    monkeypatch.setattr(AutoEstimator, "fit", fit)  # after load_job, which reads its signature
    with pytest.raises(RuntimeError, match="stop here"):
        run_job(job)
    assert calls == [
        ("init_context", {"cluster_mode": "raydp", "num_nodes": 1}),
        ("format", "csv"), ("options", {"header": "true"}), ("load", "/d/train.csv"),
        ("table", "db.val"),
        ("fit", "frame of /d/train.csv",
         {"validation_data": "frame of db.val", "search_space": {"lr": 0.1},
          "feature_cols": ["x"], "label_cols": ["y"], "epochs": 2}),
        ("stop_context",),
    ]


READ_SOURCES = """
import json, os, sys

import psutil
from pyspark.sql import SparkSession

from zoo_tune._job_data import SparkSource
from zoo_tune.cluster._spark import _stop_gateway

tmp = sys.argv[1]
spark = (SparkSession.builder.master("local[1]").appName("zoo_tune_job_data")
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1")
         .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
         .config("spark.sql.warehouse.dir", os.path.join(tmp, "warehouse")).getOrCreate())
jvm = spark.sparkContext._gateway.proc.pid
out = {}
try:
    df = spark.range(6).selectExpr("cast(id as double) as x", "id % 2 as y",
                                   "array(cast(id as double), id + 0.5) as v")
    for fmt in ("parquet", "orc", "json"):
        df.write.format(fmt).save(os.path.join(tmp, f"d.{fmt}"))
    df.select("x", "y").write.option("header", "true").csv(os.path.join(tmp, "d.csv"))
    spark.sql("CREATE DATABASE zt")
    df.write.saveAsTable("zt.digits")
    cols = {"feature_cols": ["x", "v"], "label_cols": "y"}
    sources = {fmt: {"format": fmt, "path": os.path.join(tmp, f"d.{fmt}"), **cols}
               for fmt in ("parquet", "orc", "json")}
    sources["csv"] = {"format": "csv", "path": os.path.join(tmp, "d.csv"),
                      "options": {"header": True, "inferSchema": True}, **cols}
    sources["table"] = {"table": "zt.digits", **cols}
    for name, spec in sources.items():
        frame = SparkSource.parse(spec).read(spark)
        out[name] = {"types": dict(frame.dtypes),
                     "rows": sorted((r.asDict() for r in frame.collect()), key=lambda r: r["x"])}
finally:
    spark.stop()
    _stop_gateway(spark)
children = [" ".join(p.cmdline())[:120] for p in psutil.Process().children(recursive=True)]
print(json.dumps({"sources": out, "jvm_alive": psutil.pid_exists(jvm), "children": children}))
"""


@pytest.mark.timeout(300)
def test_spark_source_read_returns_rows_and_columns(tmp_path):
    """Parquet, ORC, JSON, CSV files and a catalog table, read by a real local[1] session.

    In a fresh Python: the DataFrame tests' session may still be active in this process.
    """
    import json
    import shutil

    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java")
    script = tmp_path / "read_sources.py"
    script.write_text(READ_SOURCES)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    out = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True,
                         text=True, timeout=240, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert not result["jvm_alive"] and result["children"] == []
    full = {"x": "double", "y": "bigint", "v": "array<double>"}
    expected_types = {"parquet": full, "orc": full, "json": full, "table": full,
                      "csv": {"x": "double", "y": "int"}}
    assert set(result["sources"]) == set(expected_types)
    for name, got in result["sources"].items():
        assert got["types"] == expected_types[name], name
        expected = [{"x": float(i), "y": i % 2, "v": [float(i), i + 0.5]} for i in range(6)]
        assert got["rows"] == [{k: r[k] for k in got["types"]} for r in expected], name
