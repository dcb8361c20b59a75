"""What ``fit`` prints at each ``verbose`` level.

- ``0``: nothing on stdout or stderr but one warning per failed trial (with its traceback).
- ``1``: zoo_tune's progress line (:mod:`zoo_tune.progress`) and, at the end, a summary:
  the best value and config, each failed trial with the first line of its error, and where
  the experiment is.
- ``2``: the same, plus Ray Tune's own tables and messages.

Ray Tune 2.60's output engine prints its experiment box, "View detailed results here" and a
TensorBoard hint at every verbosity, 0 included; below 2 :func:`ray_output` switches to its
legacy engine for the run (``RAY_AIR_NEW_OUTPUT=0``, which is silent at verbosity 0) and
holds Ray Tune's and Ray Train's INFO and ERROR logs (the trial errors zoo_tune reports
itself), restoring both afterwards. In a notebook its legacy engine would also clear the
cell's output (zoo_tune's widget with it) to show its own table: below 2 the run gets
:func:`silent_reporter` instead.

Example:
    >>> with ray_output(verbose=0):  # doctest: +SKIP
    ...     tuner.fit()
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

logger = logging.getLogger(__name__)

#: Ray's loggers held below ``verbose=2`` (their messages repeat what zoo_tune reports).
RAY_LOGGERS = ("ray.tune", "ray.train")


@contextlib.contextmanager
def ray_output(verbose: int) -> Iterator[None]:
    """Keep Ray Tune quiet below ``verbose=2`` for the duration of the block."""
    if verbose >= 2:
        yield
        return
    previous_env = os.environ.get("RAY_AIR_NEW_OUTPUT")
    levels = {name: logging.getLogger(name).level for name in RAY_LOGGERS}
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    for name in RAY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        if previous_env is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = previous_env
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def silent_reporter(verbose: int) -> Any:
    """Below ``verbose=2``: a Ray Tune progress reporter that never reports (Ray Tune picks a
    notebook reporter in Jupyter, which clears the cell's output); else ``None`` (Ray's)."""
    if verbose >= 2:
        return None
    from ray.tune import ProgressReporter

    class _Silent(ProgressReporter):
        def should_report(self, trials: list[Any], done: bool = False) -> bool:
            return False

        def report(self, trials: list[Any], done: bool, *sys_info: Any) -> None:
            return None

    return _Silent()


def first_line(error: str) -> str:
    """The line of an error text that names the exception (the last non-empty line of a
    traceback's first exception), else its first line."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    for line in lines:
        if line.startswith("zoo_tune.errors.UserCodeError:") or \
                line.startswith("UserCodeError:"):
            return line.split(":", 1)[1].strip()
    named = [line for line in lines if not line.startswith(("File ", "Traceback", "^", "~"))
             and ":" in line and line.split(":", 1)[0].replace(".", "").isidentifier()]
    return named[-1] if named else lines[0]


def report(verbose: int, records: list[Any], best: Any, metric: Any, experiment_path: str,
           stream: IO[str] | None = None) -> None:
    """Tell the user how the run ended: warnings (``verbose=0``) or a summary (1, 2)."""
    failed = [r for r in records if r.error]
    if verbose == 0:
        for r in failed:
            logger.warning("Trial %s failed:\n%s", r.trial_id, r.error)
        return
    out = stream or sys.stderr
    value, epoch = best.best(metric) if best is not None else (None, None)
    lines = []
    if value is not None:
        lines.append(f"[zoo_tune] best {metric.name} {value:.4g} (trial {best.trial_id}, "
                     f"epoch {epoch}): {best.config}")
    if failed:
        lines.append(f"[zoo_tune] {len(failed)} failed trial{'s' * (len(failed) > 1)} "
                     f"(tracebacks in the trial table's 'error' column):")
        lines += [f"[zoo_tune]   {r.trial_id}: {first_line(r.error)}" for r in failed]
    lines.append(f"[zoo_tune] experiment: {experiment_path}")
    out.write("\n".join(lines) + "\n")
    out.flush()
