"""The ``zoo-tune`` command: look at finished experiments and at what zoo_tune accepts.

Example:
    $ zoo-tune list
    $ zoo-tune results /tmp/zoo_tune_logs/digits_cnn --format md
    $ zoo-tune results /tmp/zoo_tune_logs/digits_cnn --mlflow http://127.0.0.1:5000
    $ zoo-tune plot /tmp/zoo_tune_logs/digits_cnn -o plots/
    $ zoo-tune run conf/digits_job.yaml
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

FORMATS = ("table", "csv", "json", "md")


def _cmd_list(args: argparse.Namespace) -> int:
    from zoo_tune.cluster import CLUSTER_MODES
    from zoo_tune.metrics import BUILTIN_METRICS
    from zoo_tune.schedulers import SCHEDULERS
    from zoo_tune.search import SEARCH_ALGS
    from zoo_tune.storage import SCHEMES

    listing = {
        "search_alg": sorted(SEARCH_ALGS),
        "scheduler": sorted(SCHEDULERS),
        "cluster_mode": sorted(CLUSTER_MODES),
        "metric": {name: mode for name, (_, mode) in sorted(BUILTIN_METRICS.items())},
        "storage": sorted(SCHEMES),
    }
    if args.format == "json":
        print(json.dumps(listing, indent=1))
    else:
        for key, values in listing.items():
            shown = ", ".join(f"{k} ({v})" for k, v in values.items()) if isinstance(
                values, dict) else ", ".join(values)
            print(f"{key}: {shown}")
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    from zoo_tune.estimator import AutoEstimator

    est = AutoEstimator.load(args.uri)
    if args.mlflow:
        from zoo_tune.tracking import log_experiment

        run_id = log_experiment(est, args.mlflow, args.mlflow_experiment)
        if run_id is None:
            print(f"zoo-tune: error: MLflow at {args.mlflow} did not answer; nothing was "
                  f"logged.", file=sys.stderr)
            return 1
        print(f"MLflow parent run: {run_id} ({args.mlflow})", file=sys.stderr)
    elif args.mlflow_experiment:
        print("zoo-tune: error: --mlflow-experiment needs --mlflow URI.", file=sys.stderr)
        return 2
    table = est.get_trial_table()
    metric = est._metric
    assert metric is not None
    table = table.sort_values(f"best_{metric.name}", ascending=metric.mode == "min",
                              na_position="last")
    columns = ["trial_id", "status", f"best_{metric.name}", "best_epoch", "epochs",
               *[c for c in table.columns if c.startswith("config/")]]
    shown = table[columns]
    if args.format == "csv":
        sys.stdout.write(shown.to_csv(index=False))
    elif args.format == "json":
        sys.stdout.write(table.to_json(orient="records", default_handler=str) + "\n")
    elif args.format == "md":
        sys.stdout.write(trials_markdown(shown) + "\n")
    else:
        sys.stdout.write(shown.to_string(index=False) + "\n")
    return 0


def trials_markdown(table: pd.DataFrame) -> str:
    """A trial table (``trial_id`` first) as Markdown, the id column kept as left-aligned text.

    Trial ids such as ``"59699_00000"`` parse as numbers (``_`` separates digits), which
    would right-align the column.

    Example:
        >>> import pandas as pd
        >>> print(trials_markdown(pd.DataFrame({"trial_id": ["1_0"], "best": [0.5]})))
        | trial_id   |   best |
        |:-----------|-------:|
        | 1_0        |    0.5 |
    """
    return table.to_markdown(index=False, disable_numparse=[0])


def _cmd_plot(args: argparse.Namespace) -> int:
    from zoo_tune.estimator import AutoEstimator
    from zoo_tune.plots import save_plots

    for path in save_plots(AutoEstimator.load(args.uri), args.output):
        print(path)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from zoo_tune.job import load_job, run_job

    job = load_job(args.job)
    if args.dry_run:
        print(f"{args.job}: valid job, {len(job.search_space)} hyper-parameters")
        return 0
    est = run_job(job)
    print(f"experiment: {est.experiment_path}")
    print(f"best config: {est.get_best_config()}")
    best = est.get_best_trials(1).iloc[0]
    assert est._metric is not None
    print(f"best {est._metric.name}: {best[f'best_{est._metric.name}']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``zoo-tune`` (``list``, ``results``, ``plot``, ``run``)."""
    parser = argparse.ArgumentParser(prog="zoo-tune", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = sub.add_parser("list", help="valid search algorithms, schedulers, cluster modes, "
                             "metrics and storage schemes")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(func=_cmd_list)
    results = sub.add_parser("results", help="the trial table of an experiment, best first")
    results.add_argument("uri", help="experiment folder or URI: <logs_dir>/<name>")
    results.add_argument("--format", choices=FORMATS, default="table")
    results.add_argument("--mlflow", metavar="URI", help="also log the experiment to MLflow "
                         "(a parent run, a child run per trial, the best model), as "
                         "fit(mlflow_uri=...) does")
    results.add_argument("--mlflow-experiment", metavar="NAME",
                         help="the MLflow experiment (default: the experiment's name)")
    results.set_defaults(func=_cmd_results)
    plot = sub.add_parser("plot", help="PNG plots of an experiment: metric per epoch, metric vs "
                          "each hyper-parameter, parallel coordinates")
    plot.add_argument("uri", help="experiment folder or URI: <logs_dir>/<name>")
    plot.add_argument("-o", "--output", required=True, help="folder for the PNG files")
    plot.set_defaults(func=_cmd_plot)
    run = sub.add_parser("run", help="run a tuning job described in YAML (see conf/*.yaml)")
    run.add_argument("job", help="the job's YAML file")
    run.add_argument("--dry-run", action="store_true", help="validate the job, run nothing")
    run.set_defaults(func=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``zoo-tune``; returns the exit code (2 for usage errors, 1 for bad input)."""
    from zoo_tune.errors import ZooTuneError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        return args.func(args)
    except ZooTuneError as err:
        print(f"zoo-tune: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
