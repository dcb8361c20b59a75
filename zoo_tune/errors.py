"""Error classes of zoo_tune.

User-input errors subclass both the built-in error a Python user expects (``ValueError`` or
``TypeError``) and ``RuntimeError``, so code written for Analytics Zoo's Orca, which raised
``RuntimeError`` for bad input, keeps catching them.

Example:
    >>> from zoo_tune.errors import InvalidInputError
    >>> try:
    ...     raise InvalidInputError("bad")
    ... except RuntimeError as err:
    ...     print(type(err).__name__)
    InvalidInputError
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ZooTuneError(Exception):
    """Base class of every error zoo_tune raises on purpose."""


class InvalidInputError(ZooTuneError, ValueError, RuntimeError):
    """A user-supplied value breaks a documented rule (wrong value)."""


class InvalidTypeError(ZooTuneError, TypeError, RuntimeError):
    """A user-supplied value has the wrong type."""


class NotFittedError(ZooTuneError, RuntimeError):
    """Results were asked for before a successful ``fit``."""


class AlreadyFittedError(ZooTuneError, RuntimeError):
    """``fit`` was called a second time on an estimator that already holds results."""


class MissingDependencyError(ZooTuneError, ImportError, RuntimeError):
    """An optional library needed for the requested feature is not installed."""


class TrialError(ZooTuneError, RuntimeError):
    """Every trial failed; the message carries the first failed trial's own traceback."""


class UserCodeError(ZooTuneError, RuntimeError):
    """The user's own code raised inside a trial (a creator, the forward pass, a metric).

    Such an error is deterministic: the trial fails with this traceback and is not retried
    unless ``fit(retry_user_errors=True)``.
    """


class StorageUnavailableError(ZooTuneError, OSError):
    """The experiment's storage (e.g. an HDFS NameNode) stayed unreachable past the grace
    period; what was written before stays readable and ``fit(resume=True)`` continues."""


class FitInterruptedError(KeyboardInterrupt):
    """``fit`` stopped on SIGINT or SIGTERM after saving the experiment.

    A ``KeyboardInterrupt`` (not an ``Exception``), so ``except Exception`` does not swallow
    it; ``fit(..., resume=True)`` continues the experiment.

    Attributes:
        signum: The signal that stopped ``fit``.
    """

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or an empty string.

    Matching is case-insensitive, so ``"ADAM"`` suggests ``"Adam"``.

    Example:
        >>> did_you_mean("asha2", ["asha", "fifo"])
        " Did you mean 'asha'?"
    """
    if not isinstance(value, str):
        return ""
    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(value.lower(), list(lowered), n=1, cutoff=0.6)
    return f" Did you mean '{lowered[match[0]]}'?" if match else ""


def unknown_choice(noun: str, value: object, choices: Iterable[str]) -> InvalidInputError:
    """Build the standard "unknown name" error: bad value, valid choices, a suggestion.

    Example:
        >>> str(unknown_choice("scheduler", "asha2", ["asha", "fifo"]))
        "Unknown scheduler 'asha2'. Valid choices: ['asha', 'fifo']. Did you mean 'asha'?"
    """
    choices = sorted(choices)
    return InvalidInputError(
        f"Unknown {noun} {value!r}. Valid choices: {choices}.{did_you_mean(value, choices)}"
    )


def missing_dependency(feature: str, package: str,
                       extra: str | None = None) -> MissingDependencyError:
    """Build the error for an optional library that is not installed.

    Example:
        >>> print(missing_dependency("search_alg='optuna'", "optuna"))
        search_alg='optuna' needs the package 'optuna': pip install optuna.
    """
    hint = f" (or pip install 'zoo_tune[{extra}]')" if extra else ""
    return MissingDependencyError(
        f"{feature} needs the package {package!r}: pip install {package}{hint}."
    )
