"""Checks of ``resources_per_trial`` against the shape of the Ray cluster."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from zoo_tune.errors import InvalidInputError, InvalidTypeError

#: resources_per_trial key -> Ray resource name.
RESOURCE_KEYS = {"cpu": "CPU", "gpu": "GPU", "memory": "memory"}


def normalize_resources(resources: Any) -> dict[str, float]:
    """Validate ``resources_per_trial`` (no cluster needed); default ``{"cpu": 1}``.

    Raises:
        InvalidTypeError: not a dict, or a non-numeric amount.
        InvalidInputError: an unknown key, a negative amount, ``cpu`` below 1, or a ``gpu``
            above 1 that is not whole (Ray shares one GPU between trials, never several:
            ``0.5`` is two trials on one GPU, ``1.5`` is no GPU count).
    """
    if resources is None:
        return {"cpu": 1}
    if not isinstance(resources, Mapping):
        raise InvalidTypeError(f"`resources_per_trial` must be a dict like {{'cpu': 2}}, but "
                               f"got {type(resources).__name__}.")
    out: dict[str, float] = {}
    for key, amount in resources.items():
        if key not in RESOURCE_KEYS:
            raise InvalidInputError(f"Unknown key {key!r} in `resources_per_trial`. Valid keys: "
                                    f"{sorted(RESOURCE_KEYS)}.")
        if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
            raise InvalidTypeError(f"`resources_per_trial[{key!r}]` must be a number, but got "
                                   f"{amount!r}.")
        if not math.isfinite(amount) or amount < 0:
            raise InvalidInputError(f"`resources_per_trial[{key!r}]` must be a finite number "
                                    f">= 0, but got {amount!r}.")
        out[key] = amount
    gpu = out.get("gpu", 0)
    if gpu > 1 and gpu != int(gpu):
        raise InvalidInputError(f"`resources_per_trial['gpu']` must be a fraction of one GPU "
                                f"(0.5: two trials share one) or a whole number of GPUs, but "
                                f"got {gpu!r}.")
    out.setdefault("cpu", 1)
    if out["cpu"] < 1:
        raise InvalidInputError(f"`resources_per_trial['cpu'] >= 1` must hold, but got "
                                f"{out['cpu']!r}.")
    return out


def node_sizes() -> list[dict[str, float]]:
    """The trial-usable resources of every alive Ray node."""
    import ray

    return [{k: v for k, v in n["Resources"].items() if k in RESOURCE_KEYS.values()}
            for n in ray.nodes() if n.get("Alive")]


def check_fits_a_node(resources: Mapping[str, float]) -> None:
    """Raise before any trial starts when no Ray node can hold one trial.

    Raises:
        InvalidInputError: naming the request and every node's size.
    """
    wanted = {RESOURCE_KEYS[k]: v for k, v in resources.items() if v > 0}
    sizes = node_sizes()
    if not any(all(size.get(k, 0) >= v for k, v in wanted.items()) for size in sizes):
        note = ""
        if wanted.get("GPU") and max((size.get("GPU", 0) for size in sizes), default=0) < \
                wanted["GPU"]:
            note += (" GPUs of a Ray node: init_context(gpus=N) (Spark modes: N per executor's "
                     "Ray node, which Spark must have: spark.executor.resource.gpu.amount; "
                     "local: Ray's num_gpus).")
        if any(not size.get("CPU") for size in sizes):
            note += (" Nodes without CPU (a Ray head on the Spark driver, in the Spark cluster "
                     "modes) never run trials; each Spark mode worker node has init_context's "
                     "`cores` CPUs and `memory` bytes.")
        raise InvalidInputError(f"`resources_per_trial` asks for {dict(resources)} per trial, "
                                f"but no Ray node is that large. Node sizes: {sizes}.{note} "
                                f"Lower the request or start larger nodes (init_context "
                                f"cores=..., gpus=...).")
