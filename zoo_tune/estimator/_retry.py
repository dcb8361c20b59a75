"""Which trial failures Ray Tune retries: the cluster's, not the user's code's.

Ray Tune's ``FailureConfig(max_failures=n)`` retries every failure alike. zoo_tune tells them
apart: a trial raises :class:`~zoo_tune.errors.UserCodeError` when the user's own code
raised (a deterministic error, which a retry only repeats), and a lost worker process, Ray
node or Spark executor, or a failed checkpoint write, reaches Ray Tune as anything else.

Ray 2.60 has no hook for this, so :func:`install` wraps ``Trial.handle_error`` (the one
place that counts a trial's failures before ``Trial.should_recover`` decides) once per
process: for a ``UserCodeError`` it lowers that trial's ``max_failures`` below its failure
count, so Ray Tune ends the trial as ERROR with the traceback instead of retrying it. Any
other failure is untouched. If Ray's names change, :func:`install` logs a warning and user
errors are retried like any other failure (``max_failures`` still bounds them).

Example:
    >>> install()  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from zoo_tune.errors import UserCodeError

logger = logging.getLogger(__name__)

_MARK = "_zoo_tune_user_error_rule"


def is_user_error(exc: BaseException | None) -> bool:
    """Whether ``exc`` (as Ray Tune's driver sees it) is a :class:`UserCodeError`."""
    if exc is None:
        return False
    if isinstance(exc, UserCodeError):
        return True
    cause = getattr(exc, "cause", None)  # ray.exceptions.RayTaskError
    return isinstance(cause, UserCodeError)


def install() -> bool:
    """Make Ray Tune's driver fail, not retry, trials that raised :class:`UserCodeError`.

    Returns:
        Whether the rule is in place (``False`` if Ray's ``Trial`` changed shape).
    """
    try:
        from ray.tune.experiment.trial import Trial
    except ImportError:  # pragma: no cover - Ray always has it in the pinned version
        return False
    original = getattr(Trial, "handle_error", None)
    if original is None or not hasattr(Trial, "should_recover"):
        logger.warning("Ray Tune's Trial has no handle_error/should_recover: user-code "
                       "errors will be retried like lost workers (max_failures bounds them).")
        return False
    if getattr(original, _MARK, False):
        return True

    @functools.wraps(original)
    def handle_error(self: Any, exc: Any = None, *args: Any, **kwargs: Any) -> Any:
        out = original(self, exc, *args, **kwargs)
        if is_user_error(exc):
            self.max_failures = max(0, self.run_metadata.num_failures - 1)
        return out

    setattr(handle_error, _MARK, True)
    Trial.handle_error = handle_error
    return True
