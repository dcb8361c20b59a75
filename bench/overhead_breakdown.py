"""Where zoo_tune's per-trial overhead goes: the overhead job with one thing changed at a time.

Runs the job of ``overhead.py`` (tiny MLP, N lr configs, 2 epochs) as variants, each in its
own process with its own Ray. zoo_tune variants are monkeypatched in that process only (the
package on disk is untouched); they are experiments, not zoo_tune options:

- ``zoo_tune``: as shipped (checkpoints on improving epochs, ``num_to_keep=1``).
- ``zoo_tune:no_forced_snapshot``: Ray's ``_ExperimentCheckpointManager.on_trial_checkpoint``
  made a no-op, so a checkpoint no longer forces an experiment-state snapshot and an upload
  of the whole driver staging folder (every trial's logs). Diagnostic: a Ray internal.
- ``zoo_tune:keep_all``: ``CheckpointConfig(num_to_keep=None)`` (Tune forces snapshots only
  when ``num_to_keep`` is set); every improving epoch's checkpoint stays on disk.
- ``zoo_tune:keep_all_prune``: ``keep_all`` plus a driver ``Callback.on_checkpoint`` that
  deletes the trial's previous checkpoint (improving-only checkpoints: the newest is the
  best), so disk holds one checkpoint per trial as before.
- ``zoo_tune:keep_all_prune_at_end``: the same, deleting when the trial ends (resume-safe:
  an experiment snapshot never names a deleted checkpoint of a running trial). The fix
  proposed for zoo_tune.
- ``zoo_tune:no_checkpoint``: ``run_trial`` reporting without checkpoints. Diagnostic: the
  whole cost of checkpointing (worker save and upload, driver bookkeeping, snapshots).
- ``zoo_tune:no_tensorboard``: Tune's CSV and JSON loggers only (no TensorBoard logger).
- ``ray_reuse``: ``overhead.py``'s hand-written Tuner (no checkpoints).
- ``ray_reuse:ckpt``: the same, checkpointing improving epochs with ``num_to_keep=1`` like
  zoo_tune: shows the cost is Tune's, whoever writes the trainable.

``--profile`` runs the driver's tuning call under cProfile and adds its top functions
(cumulative time) to each variant's row.

    .venv/bin/python bench/overhead_breakdown.py --trials 100 400
    .venv/bin/python bench/overhead_breakdown.py --trials 100 --variants zoo_tune ray_reuse \\
        --profile
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import os
import pstats
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import overhead
from _common import (
    Timer,
    claim_stdout,
    emit,
    machine,
    markdown_table,
    merge_repeats,
    peak_rss_mb,
    run_worker,
)

VARIANTS = ("zoo_tune", "zoo_tune:no_forced_snapshot", "zoo_tune:keep_all",
            "zoo_tune:keep_all_prune", "zoo_tune:keep_all_prune_at_end",
            "zoo_tune:no_checkpoint", "zoo_tune:no_tensorboard", "ray_reuse", "ray_reuse:ckpt")


def run_trial_without_checkpoints(config: dict[str, Any], plan: Any) -> None:
    """zoo_tune's ``run_trial`` loop, reporting every epoch and never checkpointing."""
    from ray import tune

    from zoo_tune.estimator._backend import materialize

    backend, metric = plan.backend, plan.metric
    backend.set_threads(plan.cpus)
    state = backend.build(config)
    train = materialize(plan.train, config)
    val = train if plan.validation is None else materialize(plan.validation, config)
    for epoch in range(1, plan.epochs + 1):
        backend.train_epoch(state, train, config)
        tune.report({metric.name: backend.evaluate(state, val, config, metric),
                     "epoch": epoch})


def _prune_callback(at_end: bool) -> Any:
    from ray import tune

    class PruneSupersededCheckpoints(tune.Callback):
        """Delete a trial's superseded checkpoints: at once when it reports a new one, or
        (``at_end``) when the trial ends, so a driver restart mid-trial still finds every
        checkpoint its last experiment snapshot names."""

        def __init__(self) -> None:
            self.kept: dict[str, list[Any]] = {}

        def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any,
                          **info: Any) -> None:
            kept = self.kept.setdefault(trial.trial_id, [])
            kept.append(checkpoint)
            if not at_end:
                self._prune(trial)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any,
                              **info: Any) -> None:
            self._prune(trial)

        def _prune(self, trial: Any) -> None:
            kept = self.kept.get(trial.trial_id, [])
            for old in kept[:-1]:
                if old.path != kept[-1].path:
                    old.filesystem.delete_dir(old.path)
            del kept[:-1]

    return PruneSupersededCheckpoints()


def _patch_tuner(keep_all: bool = False, callbacks: Sequence[Any] = ()) -> None:
    """Make ``ray.tune.Tuner`` (looked up by zoo_tune at fit time) change its RunConfig."""
    from ray import tune

    real = tune.Tuner

    def tuner(trainable: Any, *, run_config: Any, **kwargs: Any) -> Any:
        changes: dict[str, Any] = {"callbacks": [*(run_config.callbacks or []), *callbacks]}
        if keep_all:
            changes["checkpoint_config"] = dataclasses.replace(run_config.checkpoint_config,
                                                               num_to_keep=None)
        return real(trainable, run_config=dataclasses.replace(run_config, **changes), **kwargs)

    tune.Tuner = tuner


def apply_variant(variant: str) -> None:
    """Monkeypatch this process for ``variant`` (see the module docstring)."""
    if variant == "zoo_tune:no_forced_snapshot":
        from ray.tune.execution.experiment_state import _ExperimentCheckpointManager

        _ExperimentCheckpointManager.on_trial_checkpoint = lambda self, trial: None
    elif variant == "zoo_tune:keep_all":
        _patch_tuner(keep_all=True)
    elif variant == "zoo_tune:keep_all_prune":
        _patch_tuner(keep_all=True, callbacks=[_prune_callback(at_end=False)])
    elif variant == "zoo_tune:keep_all_prune_at_end":
        _patch_tuner(keep_all=True, callbacks=[_prune_callback(at_end=True)])
    elif variant == "zoo_tune:no_checkpoint":
        from zoo_tune.estimator import _auto

        _auto.run_trial = run_trial_without_checkpoints
    elif variant == "zoo_tune:no_tensorboard":
        from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

        os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
        _patch_tuner(callbacks=[CSVLoggerCallback(), JsonLoggerCallback()])


def _ray_trainable_ckpt(config: dict[str, Any], data: overhead.Data, epochs: int) -> None:
    """``overhead.py``'s hand-written trainable, checkpointing improving epochs."""
    import torch
    from ray import tune

    best = [-1.0]

    def report(epoch: int, accuracy: float, model: Any) -> None:
        if accuracy <= best[0]:
            tune.report({"accuracy": accuracy, "epoch": epoch})
            return
        best[0] = accuracy
        with tempfile.TemporaryDirectory() as directory:
            torch.save(model.state_dict(), os.path.join(directory, "model.pt"))
            tune.report({"accuracy": accuracy, "epoch": epoch},
                        checkpoint=tune.Checkpoint.from_directory(directory))

    overhead.train_trial(config, data, epochs, report)


def run_ray_ckpt(n: int, data: overhead.Data, epochs: int, features: int, storage: str) -> int:
    from ray import tune

    trainable = tune.with_resources(
        tune.with_parameters(_ray_trainable_ckpt, data=data, epochs=epochs), {"cpu": 1})
    tuner = tune.Tuner(
        trainable, param_space={"lr": tune.grid_search(overhead.learning_rates(n)),
                                "seed": overhead.SEED, "features": features},
        tune_config=tune.TuneConfig(metric="accuracy", mode="max", reuse_actors=True),
        run_config=tune.RunConfig(
            name=f"ray_ckpt_{n}", storage_path=storage, verbose=0,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1,
                                                    checkpoint_score_attribute="accuracy",
                                                    checkpoint_score_order="max")))
    results = tuner.fit()
    assert not results.errors, results.errors
    return sum(int(r.metrics["training_iteration"]) for r in results)


def _checkpoints_left(storage: str) -> int:
    return sum(name.startswith("checkpoint_") for _, dirs, _ in os.walk(storage)
               for name in dirs)


def run_variant(variant: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    apply_variant(variant)
    data = overhead.make_data(args.rows, args.features)
    base = variant.split(":")[0]
    row: dict[str, Any] = {"variant": variant, "trials": n,
                           "ray_startup_s": overhead.start_ray(base, args.cores)}
    storage = tempfile.mkdtemp(prefix="bench_breakdown_")
    profiler = cProfile.Profile() if args.profile else None
    try:
        with Timer() as t:
            if profiler:
                profiler.enable()
            if variant == "ray_reuse:ckpt":
                epochs_run = run_ray_ckpt(n, data, args.epochs, args.features, storage)
            elif base == "ray_reuse":
                epochs_run = overhead.run_ray(n, data, args.epochs, args.features, storage,
                                              True)
            else:
                epochs_run = overhead.run_zoo_tune(n, data, args.epochs, args.features, storage)
            if profiler:
                profiler.disable()
        row.update(wall_s=t.s, epochs_run=epochs_run, driver_peak_rss_mb=peak_rss_mb(),
                   checkpoints_on_disk=_checkpoints_left(storage))
        if profiler:
            row["profile_top"] = _top(profiler, args.profile_top)
    finally:
        shutil.rmtree(storage, ignore_errors=True)
        overhead.stop_ray()
    return row


def _top(profiler: cProfile.Profile, count: int) -> list[list[Any]]:
    """The ``count`` functions with the most cumulative time: name, calls, tottime, cumtime."""
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (path, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = "/".join(path.split("/")[-2:])
        rows.append([f"{short}:{line}({name})", calls, round(tottime, 3), round(cumtime, 3)])
    rows.sort(key=lambda r: r[3], reverse=True)
    return rows[:count]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=None, help="N (100; smoke 4)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--profile", action="store_true", help="cProfile the driver's fit")
    parser.add_argument("--profile-top", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant (median)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per variant")
    parser.add_argument("--smoke", action="store_true", help="N=4, 1 epoch")
    parser.add_argument("--markdown", help="write the Markdown table here, not to stderr")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.trials is None:
        args.trials = [4] if args.smoke else [100]
    if args.smoke:
        args.epochs = 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    claim_stdout()
    if args.worker:
        emit(run_variant(args.variants[0], args.trials[0], args), None, None)
        return 0
    runs = []
    for n in args.trials:
        for repeat in range(args.repeat):  # round robin: slow drifts in load hit all alike
            for variant in args.variants:
                print(f"[breakdown] {variant} N={n} (run {repeat + 1}/{args.repeat}) ...",
                      file=sys.stderr, flush=True)
                worker_args = ["--variants", variant, "--trials", str(n), "--epochs",
                               str(args.epochs), "--rows", str(args.rows), "--features",
                               str(args.features), "--cores", str(args.cores),
                               "--profile-top", str(args.profile_top)]
                runs.append(run_worker(__file__, worker_args + ["--profile"] * args.profile,
                                       args.timeout))
    rows = merge_repeats(runs, ("variant", "trials"))
    for r in rows:
        r["ms_per_trial"] = 1000 * r["wall_s"] / r["trials"]
        r["ms_per_trial_min"] = 1000 * r["wall_s_min"] / r["trials"]
    result = {"benchmark": "overhead_breakdown", "machine": machine(),
              "settings": {k: v for k, v in vars(args).items() if k != "worker"},
              "results": rows}
    table = markdown_table(
        ["variant", "N", "runs", "wall s (median)", "wall s (min)", "ms/trial (median)",
         "checkpoints left", "driver peak RSS MiB"],
        [[r["variant"], r["trials"], r["repeats"], r["wall_s"], r["wall_s_min"],
          r["ms_per_trial"], r["checkpoints_on_disk"], r["driver_peak_rss_mb"]]
         for r in rows])
    emit(result, table, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
