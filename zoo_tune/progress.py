"""Live progress of a ``fit`` on the driver: one compact line instead of Ray Tune's tables.

In a terminal the line rewrites itself in place; when the stream is not a TTY (a file, a
spark-submit log on YARN) it becomes a log line every ``interval_s`` seconds and on each trial
end; in a Jupyter notebook it is one live widget (:mod:`zoo_tune._widget`).

Example:
    >>> est.fit(..., verbose=1)  # doctest: +SKIP
    [zoo_tune] 5/8 done (1 error) (2 retried) | 2 running | 1 pending | 41.2k rows/s per trial | best accuracy 0.9611 {'lr': 0.004} | 0:00:21 elapsed, ~0:00:13 left

``rows/s per trial`` is the training throughput of the trials' latest epochs (mean over the
trials that reported one; numpy and DataFrame inputs, not creators).
"""  # noqa: E501

from __future__ import annotations

import logging
import sys
import time
from datetime import timedelta
from typing import IO, Any

from ray.tune import Callback

logger = logging.getLogger("zoo_tune.progress")

#: Result key of a trial's training rows per second in an epoch (arrays and tables, not
#: creators' batches), reported by ``estimator._trainable``.
ROWS_PER_S_KEY = "rows_per_s"


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds)))


def _rate(rows_per_s: float) -> str:
    """``41.2k`` / ``1.3M`` / ``950``."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if rows_per_s >= scale:
            return f"{rows_per_s / scale:.3g}{suffix}"
    return f"{rows_per_s:.3g}"


def _widget(total: int | None, metric: str) -> Any:
    """The notebook widget when in a Jupyter kernel with tqdm installed, else ``None``."""
    from zoo_tune._widget import ProgressWidget, in_notebook

    if not in_notebook():
        return None
    try:
        return ProgressWidget(total, metric)
    except ImportError:
        logger.info("No tqdm: the progress line instead of a widget (pip install "
                    "'zoo_tune[notebook]').")
        return None


class ProgressCallback(Callback):
    """Ray Tune callback that reports trial counts, the best metric so far and the ETA.

    Args:
        metric: Metric name to track.
        mode: ``"min"`` or ``"max"``.
        total: Planned trial count, or ``None`` when open-ended.
        stream: Where the line goes (default ``sys.stderr``).
        interval_s: Seconds between log lines when ``stream`` is not a TTY.
        widget: Show a live widget instead of the line (``True`` needs tqdm); default
            (``None``): inside a Jupyter kernel with tqdm installed
            (``pip install 'zoo_tune[notebook]'``).
    """

    def __init__(self, metric: str, mode: str, total: int | None, stream: IO[str] | None = None,
                 interval_s: float = 30.0, widget: bool | None = None) -> None:
        self.metric, self.mode, self.total = metric, mode, total
        self._stream = stream
        self.interval_s = interval_s
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.best: float | None = None
        self.best_config: dict[str, Any] | None = None
        self.done = self.errors = self.retries = 0
        self.running = self.pending = 0
        self._last_emit = 0.0
        self.lines: list[str] = []
        self.rows_per_s: dict[str, float] = {}
        self.widget: Any = None
        if widget is None:
            self.widget = _widget(total, metric)
        elif widget:
            from zoo_tune._widget import ProgressWidget

            self.widget = ProgressWidget(total, metric)

    @property
    def stream(self) -> IO[str]:
        """The output stream (``sys.stderr`` unless one was given)."""
        return self._stream or sys.stderr

    def __getstate__(self) -> dict[str, Any]:
        # Ray Tune pickles its callbacks with the experiment state; streams do not pickle.
        return {**self.__dict__, "_stream": None, "widget": None}

    def line(self) -> str:
        """The current progress line."""
        elapsed = time.monotonic() - self.start
        total = self.total if self.total is not None else "?"
        parts = [f"[zoo_tune] {self.done}/{total} done" +
                 (f" ({self.errors} error{'s' * (self.errors > 1)})" if self.errors else "") +
                 (f" ({self.retries} retried)" if self.retries else ""),
                 f"{self.running} running", f"{self.pending} pending"]
        if self.rows_per_s:
            mean = sum(self.rows_per_s.values()) / len(self.rows_per_s)
            parts.append(f"{_rate(mean)} rows/s per trial")
        if self.best is not None:
            parts.append(f"best {self.metric} {self.best:.4g} {self.best_config}")
        timing = f"{_clock(elapsed)} elapsed"
        if self.total and 0 < self.done < self.total:
            timing += f", ~{_clock(elapsed / self.done * (self.total - self.done))} left"
        parts.append(timing)
        return " | ".join(parts)

    def _emit(self, force: bool = False) -> None:
        now = time.monotonic()
        text = self.line()
        if self.widget is not None:
            self.widget.update(self.done, self.running, self.errors, self.best,
                               self.best_config)
        elif self.tty:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
        elif force or now - self._last_emit >= self.interval_s:
            self.stream.write(text + "\n")
            self.stream.flush()
        else:
            return
        self._last_emit = now
        self.lines.append(text)

    def _count(self, trials: list[Any], ending: Any = None, now: str | None = None) -> None:
        """Counts from the trials' statuses, ``ending`` counted as ``now`` already: Ray calls
        the trial-end hooks before it changes the trial's status, and the line once said
        ``2/2 done | 1 running``. done + running + pending = total at every moment."""
        status = [now if t is ending else t.status for t in trials]
        self.running = status.count("RUNNING")
        self.errors = status.count("ERROR")
        self.done = status.count("TERMINATED") + self.errors
        waiting = status.count("PENDING") + status.count("PAUSED")
        self.pending = max(0, self.total - self.done - self.running) \
            if self.total is not None else waiting

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any,
                        result: dict[str, Any], **info: Any) -> None:
        rate = result.get(ROWS_PER_S_KEY)
        if isinstance(rate, (int, float)) and rate > 0:
            self.rows_per_s[str(getattr(trial, "trial_id", trial))] = float(rate)
        value = result.get(self.metric)
        if value is not None and value == value and (
                self.best is None or (value > self.best if self.mode == "max"
                                      else value < self.best)):
            self.best, self.best_config = float(value), dict(trial.config)
        self._count(trials)
        self._emit()

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any,
                          **info: Any) -> None:
        self._count(trials, trial, "TERMINATED")
        self._emit(force=True)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._count(trials, trial, "ERROR")
        self._emit(force=True)

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any,
                         **info: Any) -> None:
        self.retries += 1
        self._count(trials, trial, "PENDING")
        self._emit(force=True)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self._count(trials)
        self._emit(force=True)
        if self.widget is not None:
            self.widget.close()
        elif self.tty:
            self.stream.write("\n")
            self.stream.flush()
