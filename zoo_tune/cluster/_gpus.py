"""GPUs of the Ray worker nodes: Spark's GPU resources in, Ray's ``GPU`` resource out.

A Ray worker node lives in one Spark task. With ``init_context(gpus=N)`` every executor asks
Spark for ``N`` GPUs per Ray node it holds (``spark.executor.resource.gpu.amount``; on YARN
Spark asks for ``yarn.io/gpu``), and Ray on Spark's task that starts a Ray node asks for ``N``
of them (``num_gpus_worker_node``, a stage-level task resource profile): the node starts with
``--num-gpus=N`` and ``CUDA_VISIBLE_DEVICES`` set to the addresses Spark gave that task, so
Ray hands each trial its own of them. The default task profile asks for none
(``spark.task.resource.gpu.amount`` stays unset): Spark's own jobs (reading a DataFrame) never
wait for a GPU.

Where the executors learn their GPU addresses:

- ``standalone``: from their worker, which the cluster's admin started with
  ``spark.worker.resource.gpu.amount`` and ``spark.worker.resource.gpu.discoveryScript``
  (``SPARK_WORKER_OPTS``); nothing to set here.
- ``local-cluster``: the workers run in the driver's JVM: they get
  ``spark.worker.resource.gpu.amount=N`` and, unless ``spark_conf`` names one, the
  discovery script :func:`discovery_script` writes (``nvidia-smi``'s GPUs).
- YARN: each executor runs the discovery script itself (shipped with the application unless
  ``spark_conf`` names one of the nodes' own).

Ray on Spark also counts each Spark worker's GPUs with ``nvidia-smi`` in an executor, unless
``RAY_ON_SPARK_WORKER_GPU_NUM`` is set there; zoo_tune sets it to the executor's GPU amount
(``spark.executorEnv.RAY_ON_SPARK_WORKER_GPU_NUM``, ``spark_conf`` wins), which is what the
executor may use.

Example:
    >>> conf = {"spark.master": "spark://127.0.0.1:7077", "spark.executor.cores": "1"}
    >>> add_gpu_conf(conf, 2, kind="standalone")["spark.executor.resource.gpu.amount"]
    '2'
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo_tune.errors import InvalidInputError, InvalidTypeError

#: Spark settings of the executors' and standalone workers' GPUs.
EXECUTOR_GPUS = "spark.executor.resource.gpu.amount"
EXECUTOR_DISCOVERY = "spark.executor.resource.gpu.discoveryScript"
WORKER_GPUS = "spark.worker.resource.gpu.amount"
WORKER_DISCOVERY = "spark.worker.resource.gpu.discoveryScript"
TASK_GPUS = "spark.task.resource.gpu.amount"
#: Where Ray on Spark reads a Spark worker's GPU count instead of asking ``nvidia-smi``.
RAY_WORKER_GPUS_ENV = "RAY_ON_SPARK_WORKER_GPU_NUM"

#: The discovery script zoo_tune writes: every GPU ``nvidia-smi`` lists, in Spark's JSON
#: (``{"name": "gpu", "addresses": ["0", "1"]}``), none where there is no ``nvidia-smi``.
DISCOVERY_SCRIPT = """#!/usr/bin/env bash
# Spark GPU discovery (written by zoo_tune): the GPUs nvidia-smi lists, as Spark reads them.
ids=""
if command -v nvidia-smi >/dev/null 2>&1; then
  ids="$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null \\
    | tr -d ' ' | grep -E '^[0-9]+$' | sed 's/.*/"&"/' | paste -sd, -)"
fi
echo "{\\"name\\": \\"gpu\\", \\"addresses\\": [${ids}]}"
"""
#: The name the script has in a YARN container's working dir.
SHIPPED_NAME = "zoo_tune_gpus.sh"


def check_gpus(gpus: Any) -> None:
    """Raise unless ``gpus`` (``init_context``'s) is ``None`` or an int >= 0.

    Raises:
        InvalidTypeError: not an int (a bool, a float, a string).
        InvalidInputError: negative.
    """
    if gpus is None:
        return
    if isinstance(gpus, bool) or not isinstance(gpus, int):
        raise InvalidTypeError(f"`gpus` (GPUs of each Ray worker node) must be an int >= 0, "
                               f"but got {gpus!r}. A trial's share of a GPU is "
                               f"resources_per_trial={{'gpu': 0.5}}, not init_context's.")
    if gpus < 0:
        raise InvalidInputError(f"`gpus` must be >= 0, but got {gpus!r}.")


def amount(conf: Mapping[str, str] | Any, key: str = EXECUTOR_GPUS) -> int | None:
    """An int GPU amount setting of ``conf`` (a dict or a ``SparkConf``), else ``None``.

    Raises:
        InvalidInputError: a value that is not a whole number.
    """
    value = conf.get(key, None)
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not text.isdigit():
        raise InvalidInputError(f"Spark setting {key}={value!r} must be a whole number of GPUs.")
    return int(text)


def discovery_script(directory: str | os.PathLike[str] | None = None) -> str:
    """Write :data:`DISCOVERY_SCRIPT` (executable) once under ``directory`` (default
    ``~/.cache/zoo_tune``) and return its path."""
    folder = Path(directory) if directory is not None else Path.home() / ".cache" / "zoo_tune"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gpu-discovery.sh"
    if not path.exists() or path.read_text(encoding="utf-8") != DISCOVERY_SCRIPT:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(DISCOVERY_SCRIPT, encoding="utf-8")
        tmp.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        tmp.replace(path)
    return str(path)


def add_gpu_conf(conf: dict[str, str], gpus: int | None, *, kind: str,
                 nodes_per_executor: int = 1, executors_per_worker: int = 1) -> dict[str, str]:
    """Add the GPU settings to the conf of a session zoo_tune creates (in place; returned).

    Settings already in ``conf`` (the user's ``spark_conf``) are kept.

    Args:
        conf: The session's settings, the user's included.
        gpus: GPUs per Ray worker node; ``None``: what ``spark.executor.resource.gpu.amount``
            in ``conf`` gives each node, else none.
        kind: ``"standalone"``, ``"local-cluster"`` or ``"yarn"`` (see the module's text).
        nodes_per_executor: Ray nodes one executor holds.
        executors_per_worker: ``local-cluster``: executors each worker runs (its GPUs are
            theirs together).

    Raises:
        InvalidInputError: ``spark.executor.resource.gpu.amount`` in ``conf`` is smaller than
            ``gpus`` x ``nodes_per_executor``.
    """
    given = amount(conf)
    if gpus is None:
        gpus = 0 if given is None else given // max(1, nodes_per_executor)
    if gpus == 0:
        return conf
    needed = gpus * max(1, nodes_per_executor)
    if given is not None and given < needed:
        raise InvalidInputError(
            f"init_context(gpus={gpus}) needs {needed} GPU(s) per executor ({nodes_per_executor} "
            f"Ray node(s) each), but spark_conf sets {EXECUTOR_GPUS}={given}. Drop that setting "
            f"or lower `gpus`.")
    conf.setdefault(EXECUTOR_GPUS, str(needed))
    conf.setdefault(f"spark.executorEnv.{RAY_WORKER_GPUS_ENV}", conf[EXECUTOR_GPUS])
    if kind == "local-cluster":
        conf.setdefault(WORKER_GPUS, str(int(conf[EXECUTOR_GPUS]) * executors_per_worker))
        conf.setdefault(WORKER_DISCOVERY, discovery_script())
    elif kind == "yarn" and EXECUTOR_DISCOVERY not in conf:
        script = discovery_script()
        shipped = conf.get("spark.yarn.dist.files", "")
        conf["spark.yarn.dist.files"] = ",".join(
            p for p in (shipped, f"file://{script}#{SHIPPED_NAME}") if p)
        conf[EXECUTOR_DISCOVERY] = f"./{SHIPPED_NAME}"
    return conf


def node_gpus(conf: Any, gpus: int | None, nodes_per_executor: int) -> int:
    """GPUs of each Ray worker node on a running session (``conf``: its ``SparkConf``).

    ``gpus=None``: the executor's ``spark.executor.resource.gpu.amount`` shared by the Ray
    nodes it holds (0 without it).

    Raises:
        InvalidInputError: ``gpus`` more than the executors have (Ray on Spark's task could
            never start: Spark would wait for GPUs no executor holds).
    """
    have = amount(conf) or 0
    per_node = have // max(1, nodes_per_executor)
    if gpus is None:
        return per_node
    if gpus > per_node:
        raise InvalidInputError(
            f"init_context(gpus={gpus}) asks for {gpus} GPU(s) per Ray worker node, but the "
            f"session's executors have {EXECUTOR_GPUS}={have} for {nodes_per_executor} Ray "
            f"node(s) each. Give the executors GPUs (scripts/zoo-tune-submit --gpus {gpus}, or "
            f"--conf {EXECUTOR_GPUS}=...) or lower `gpus`.")
    return gpus
