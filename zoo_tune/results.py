"""The trial table: one row per trial with config, status, per-epoch metric and best value.

Example:
    >>> table = est.get_trial_table()  # doctest: +SKIP
    >>> table.sort_values("best_accuracy", ascending=False).head()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from zoo_tune.metrics import MetricSpec


def _best_checkpoint_path(result: Any, metric: MetricSpec) -> str | None:
    ranked = [(m.get(metric.name), c) for c, m in (result.best_checkpoints or [])
              if m.get(metric.name) is not None]
    if not ranked:
        return None
    pick = max if metric.mode == "max" else min
    return pick(ranked, key=lambda pair: pair[0])[1].path


def _history(result: Any, metric: MetricSpec) -> list[float]:
    frame = result.metrics_dataframe
    if frame is None or metric.name not in frame:
        return []
    return [float(v) for v in frame[metric.name].tolist()]


def trial_row(result: Any, metric: MetricSpec) -> dict[str, Any]:
    """One trial table row from a Ray Tune ``Result``."""
    history = _history(result, metric)
    valid = [(v, i + 1) for i, v in enumerate(history) if v == v]  # drop NaN
    best = (max if metric.mode == "max" else min)(valid) if valid else (None, None)
    config = dict(result.config or {})
    row: dict[str, Any] = {
        "trial_id": (result.metrics or {}).get("trial_id") or result.path.rsplit("_", 1)[-1],
        "status": "ERROR" if result.error else "TERMINATED",
        "config": config,
        "epochs": len(history),
        f"{metric.name}_history": history,
        f"best_{metric.name}": best[0],
        "best_epoch": best[1],
        "checkpoint": _best_checkpoint_path(result, metric),
        "logdir": result.path,
        "error": None if result.error is None else str(result.error),
    }
    row.update({f"config/{k}": v for k, v in config.items()})
    return row


def trial_table(results: Any, metric: MetricSpec) -> pd.DataFrame:
    """All trials of a Ray Tune ``ResultGrid`` as a DataFrame (columns: see :func:`trial_row`)."""
    return pd.DataFrame([trial_row(r, metric) for r in results])
