"""PNG plots of an experiment's trials (matplotlib, no display needed).

Example:
    >>> from zoo_tune.plots import save_plots
    >>> save_plots(AutoEstimator.load(uri), "plots/")  # doctest: +SKIP
    ['plots/metric_vs_epoch.png', 'plots/metric_vs_lr.png', 'plots/parallel_coordinates.png',
     'plots/trial_timeline.png']
"""

from __future__ import annotations

import numbers
import os
from typing import Any

from zoo_tune.errors import missing_dependency


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as err:  # pragma: no cover - matplotlib is in the test install
        raise missing_dependency("zoo-tune plot", "matplotlib", "plots") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _numeric_params(table: Any) -> list[str]:
    cols = [c for c in table.columns if c.startswith("config/")]
    return [c for c in cols if all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                   for v in table[c].dropna())
            and table[c].nunique() > 1]


def save_plots(estimator: Any, directory: str) -> list[str]:
    """Write the experiment's plots into ``directory``; return the file paths.

    * ``metric_vs_epoch.png``: every trial's metric per epoch, the best trial highlighted;
    * ``metric_vs_<param>.png``: each trial's best metric against each numeric
      hyper-parameter that varied;
    * ``parallel_coordinates.png``: the varied numeric hyper-parameters of every trial,
      scaled to [0, 1], coloured by best metric;
    * ``trial_timeline.png``: epochs each trial ran, early stops (ASHA, median stopping...)
      in orange, PBT exploits as arrows from donor to the trial that cloned it.
    """
    plt = _pyplot()
    os.makedirs(directory, exist_ok=True)
    table = estimator.get_trial_table()
    metric = estimator._metric
    best_id = table.loc[table[f"best_{metric.name}"].idxmax() if metric.mode == "max"
                        else table[f"best_{metric.name}"].idxmin(), "trial_id"]
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for _, row in table.iterrows():
        history = row[f"{metric.name}_history"]
        best = row["trial_id"] == best_id
        ax.plot(range(1, len(history) + 1), history, marker="o", markersize=3,
                linewidth=2.5 if best else 1, alpha=1 if best else 0.45,
                color="tab:red" if best else "tab:blue",
                label=f"best: {row['trial_id']}" if best else None, zorder=3 if best else 1)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set(xlabel="epoch", ylabel=metric.name,
           title=f"{metric.name} per epoch, {len(table)} trials ({metric.mode})")
    ax.legend()
    paths.append(_save(fig, plt, directory, "metric_vs_epoch.png"))

    params = _numeric_params(table)
    for column in params:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.scatter(table[column], table[f"best_{metric.name}"], c="tab:blue")
        name = column.split("/", 1)[1]
        ax.set(xlabel=name, ylabel=f"best {metric.name}", title=f"best {metric.name} vs {name}")
        paths.append(_save(fig, plt, directory, f"metric_vs_{name}.png"))

    if params:
        fig, ax = plt.subplots(figsize=(max(6, 2 * len(params) + 2), 4.5))
        values = table[params].astype(float)
        scaled = (values - values.min()) / (values.max() - values.min())
        scores = table[f"best_{metric.name}"].astype(float)
        norm = plt.Normalize(scores.min(), scores.max())
        cmap = plt.get_cmap("viridis")
        for i in range(len(table)):
            ax.plot(range(len(params)), scaled.iloc[i], color=cmap(norm(scores.iloc[i])))
        ax.set_xticks(range(len(params)), [p.split("/", 1)[1] for p in params])
        ax.set(ylabel="scaled value", title="hyper-parameters, coloured by best "
               f"{metric.name}")
        fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=metric.name)
        paths.append(_save(fig, plt, directory, "parallel_coordinates.png"))
    paths.append(_timeline(estimator, table, plt, directory))
    return paths


def exploit_events(estimator: Any) -> list[tuple[str, str, int]]:
    """PBT exploit events ``(trial_id, donor_trial_id, epoch)`` from ``pbt_global.txt``.

    Ray Tune logs trials by tag (``"<n>_<config>"``, ``n`` counting trials from 0), the same
    ``n`` that ends zoo_tune's trial ids.
    """
    import json

    store = estimator._storage
    relative = estimator._experiment_dir[len(store.path):].strip("/")
    name = f"{relative}/pbt_global.txt" if relative else "pbt_global.txt"
    if not store.exists(name):
        return []
    ids = {int(t.rsplit("_", 1)[1]): t for t in estimator.get_trial_table()["trial_id"]}
    events = []
    for line in store.read_bytes(name).decode("utf-8").splitlines():
        target, donor, step = json.loads(line)[:3]
        number = [int(tag.split("_", 1)[0]) for tag in (target, donor)]
        if number[0] in ids and number[1] in ids:
            events.append((ids[number[0]], ids[number[1]], int(step)))
    return events


def _timeline(estimator: Any, table: Any, plt: Any, directory: str) -> str:
    """Epochs each trial ran; early-stopped trials marked, PBT exploits drawn as arrows."""
    planned = int(table["epochs"].max())
    order = list(table["trial_id"])
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(order) + 1.5))
    for i, row in enumerate(table.itertuples()):
        stopped = row.epochs < planned
        ax.barh(i, row.epochs, color="tab:orange" if stopped else "tab:blue",
                label=("stopped early" if stopped else "ran all epochs"))
    for target, donor, step in exploit_events(estimator):
        y0, y1 = order.index(donor), order.index(target)
        ax.annotate("", xy=(step, y1), xytext=(step, y0),
                    arrowprops={"arrowstyle": "->", "color": "tab:red"})
        ax.plot([step], [y1], "x", color="tab:red", label="exploited (cloned donor)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), loc="lower right")
    ax.set_yticks(range(len(order)), order)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set(xlabel="epochs run", title="trials: epochs run, early stops and PBT exploits")
    return _save(fig, plt, directory, "trial_timeline.png")


def _save(fig: Any, plt: Any, directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
