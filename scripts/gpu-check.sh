#!/usr/bin/env bash
# gpu-check.sh: the device check of GPU trials (docs/guide/gpus.md), for a machine with a GPU.
#
# Runs a small real tuning job on local Ray with one GPU: 4 trials at
# resources_per_trial={"cpu": 1, "gpu": 0.25} (all four share the GPU) with device="cuda",
# asserts that every trial's parameters lived on CUDA, that Ray gave each trial a GPU id in
# CUDA_VISIBLE_DEVICES and that get_best_model() comes back on the CPU; then runs the same job
# on the CPU (device="cpu") and prints the training time of one epoch on the GPU against the
# CPU (mean over trials and epochs, from each trial's rows/s). A third run repeats the GPU job
# in mixed precision (fit(precision="bf16-mixed"), "16-mixed" on a GPU without bfloat16) and
# prints its epoch time beside the others. Exit 0: passed; 1: a check failed; 2: no usable
# CUDA here (nothing checked).
#
#   scripts/gpu-check.sh                 # about a minute on one GPU
#
# Settings (environment):
#   ZOO_TUNE_PYTHON        the venv's python (default: this repo's .venv/bin/python, python3)
#   GPU_CHECK_ROWS         training rows (default 50000)
#   GPU_CHECK_EPOCHS       epochs per trial (default 3)
#   GPU_CHECK_WIDTH        hidden units of the MLP (default 1024)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${ZOO_TUNE_PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x "$HERE/../.venv/bin/python" ]; then PY="$HERE/../.venv/bin/python"; else PY=python3; fi
fi
command -v "$PY" >/dev/null 2>&1 || { echo "gpu-check.sh: no python '$PY'" >&2; exit 1; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/zoo_tune_gpu_check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

cd "$HERE/.."
RAY_DEDUP_LOGS=0 "$PY" - "$WORK" <<'EOF'
import json
import os
import sys
import time

work = sys.argv[1]
try:
    import torch
except ImportError:
    sys.exit("gpu-check.sh: torch is not installed in this Python")
if not torch.cuda.is_available():
    print(f"gpu-check.sh: no usable CUDA GPU here (torch {torch.__version__}, built for CUDA "
          f"{torch.version.cuda}; torch.cuda.is_available() is False): nothing checked. Run it "
          f"on a machine with an NVIDIA GPU and its driver.", file=sys.stderr)
    sys.exit(2)

import numpy as np
from torch import nn

from zoo_tune import AutoEstimator, hp, init_context, stop_context

ROWS = int(os.environ.get("GPU_CHECK_ROWS", "50000"))
EPOCHS = int(os.environ.get("GPU_CHECK_EPOCHS", "3"))
WIDTH = int(os.environ.get("GPU_CHECK_WIDTH", "1024"))
records = os.path.join(work, "records")
os.makedirs(records)


def model_creator(config):
    return nn.Sequential(nn.Linear(64, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU(),
                         nn.Linear(WIDTH, 10))


def optimizer(model, config):
    import warnings

    import ray
    from ray import tune

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trial = tune.get_context().get_trial_id()
    if trial is not None:  # in a trial, after zoo_tune placed the model
        devices = sorted({p.device.type for p in model.parameters()})
        seen = {"run": config["run"], "trial": trial, "devices": devices,
                "gpu_ids": [str(i) for i in ray.get_gpu_ids()],
                "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "name": torch.cuda.get_device_name(0) if devices == ["cuda"] else None}
        with open(os.path.join(records, f"{config['run']}-{trial}.json"), "w") as f:
            json.dump(seen, f)
    return torch.optim.Adam(model.parameters(), lr=config["lr"])


def epoch_seconds(est, rows):
    """Mean training seconds of one epoch over every trial and epoch (rows / rows_per_s)."""
    times = []
    for logdir in est.get_trial_table()["logdir"]:
        with open(os.path.join(logdir, "result.json")) as f:
            times += [rows / r["rows_per_s"] for r in map(json.loads, f) if r.get("rows_per_s")]
    return sum(times) / len(times), len(times)


rng = np.random.default_rng(0)
centers = rng.normal(size=(10, 64)).astype(np.float32)
y = rng.integers(0, 10, size=ROWS + 2000)
x = (centers[y] + rng.normal(scale=1.0, size=(len(y), 64))).astype(np.float32)
data, validation = (x[:ROWS], y[:ROWS]), (x[ROWS:], y[ROWS:])

MIXED = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
init_context(cluster_mode="local", cores=4, gpus=1)
results, failures = {}, []
try:
    for run, resources, device, precision in (
            ("gpu", {"cpu": 1, "gpu": 0.25}, "cuda", "32"),
            ("cpu", {"cpu": 1}, "cpu", "32"),
            ("mixed", {"cpu": 1, "gpu": 0.25}, "cuda", MIXED)):
        est = AutoEstimator.from_torch(model_creator=model_creator, optimizer=optimizer,
                                       loss="CrossEntropyLoss", logs_dir=os.path.join(work, run),
                                       name=run, resources_per_trial=resources)
        start = time.monotonic()
        est.fit(data, validation_data=validation, epochs=EPOCHS, n_sampling=4,
                metric="accuracy", verbose=0, device=device, precision=precision,
                search_space={"lr": hp.loguniform(1e-4, 1e-2), "batch_size": 256, "run": run})
        wall = time.monotonic() - start
        mean, count = epoch_seconds(est, ROWS)
        best = est.get_best_model()
        results[run] = {"fit_s": wall, "epoch_s": mean, "epochs_timed": count,
                        "statuses": est.get_trial_table()["status"].tolist(),
                        "best_model_on": sorted({p.device.type for p in best.parameters()}),
                        "best_accuracy": float(est.get_trial_table()["best_accuracy"].max())}
finally:
    stop_context()

seen = [json.load(open(os.path.join(records, f))) for f in sorted(os.listdir(records))]
for run, result in results.items():
    if set(result["statuses"]) != {"TERMINATED"} or len(result["statuses"]) != 4:
        failures.append(f"{run}: trial statuses {result['statuses']}")
    if result["best_model_on"] != ["cpu"]:
        failures.append(f"{run}: get_best_model() is on {result['best_model_on']}, not the CPU")
gpu_trials = [s for s in seen if s["gpu_ids"]]
for run in ("gpu", "mixed"):
    held = [s for s in gpu_trials if s["run"] == run]
    if len(held) != 4:
        failures.append(f"{run}: {len(held)} trials held a GPU, not 4: {seen}")
for s in gpu_trials:
    if s["devices"] != ["cuda"]:
        failures.append(f"trial {s['trial']}: parameters on {s['devices']}, not CUDA")
    if s["visible"] != ",".join(s["gpu_ids"]):
        failures.append(f"trial {s['trial']}: CUDA_VISIBLE_DEVICES={s['visible']!r}, GPU ids "
                        f"{s['gpu_ids']}")

print(json.dumps({"results": results, "trials": seen}, indent=1))
gpu, cpu, mixed = results.get("gpu"), results.get("cpu"), results.get("mixed")
if gpu and cpu and mixed:
    name = next((s["name"] for s in gpu_trials if s["name"]), "?")
    print(f"\n{'':24}{'GPU (' + name + ')':>40}{'GPU, ' + MIXED:>20}"
          f"{'CPU (1 core/trial)':>22}")
    for label, key, fmt in (("train epoch, s (mean)", "epoch_s", ".3f"),
                            ("fit, s (4 trials)", "fit_s", ".1f"),
                            ("best accuracy", "best_accuracy", ".3f")):
        print(f"{label:24}{gpu[key]:>40{fmt}}{mixed[key]:>20{fmt}}{cpu[key]:>22{fmt}}")
    print(f"epoch speed-up on the GPU (4 trials sharing it): "
          f"{cpu['epoch_s'] / gpu['epoch_s']:.1f}x, {MIXED}: "
          f"{cpu['epoch_s'] / mixed['epoch_s']:.1f}x; {ROWS} rows, MLP 64-{WIDTH}-{WIDTH}-10, "
          f"batch 256, {EPOCHS} epochs")
if failures:
    print("\ngpu-check.sh: FAILED\n  " + "\n  ".join(failures), file=sys.stderr)
    sys.exit(1)
print("\ngpu-check.sh: passed: every GPU trial's parameters lived on CUDA, each trial saw its "
      "GPU id in CUDA_VISIBLE_DEVICES, the best model came back on the CPU.")
EOF
