"""The checks of ``fit(mlflow_uri=..., mlflow_experiment=...)``, before any cluster work.

Example:
    >>> check_tracking(None, None)
    (None, None)
    >>> check_tracking("ftp://host", None)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InvalidInputError: `mlflow_uri` 'ftp://host' ...
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from zoo_tune.errors import InvalidInputError, InvalidTypeError, missing_dependency

#: The tracking URIs ``fit`` takes: ``http(s)://host:port`` (an MLflow server),
#: ``sqlite:///path.db`` (no server), ``databricks`` (or ``databricks://profile``) and
#: ``file:///folder``.
TRACKING_SCHEMES = ("http", "https", "sqlite", "databricks", "file")


def _scheme_rule(uri: str) -> str | None:
    """Why ``uri`` is not a tracking URI zoo_tune takes, or ``None``."""
    if uri == "databricks" or uri.startswith("databricks://"):
        return None
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        return None if parts.hostname else "an http(s) URI needs a host: http://host:port"
    if parts.scheme == "sqlite":
        return None if uri.startswith("sqlite:///") and len(uri) > len("sqlite:///") else \
            "a sqlite URI names its file: sqlite:///relative.db or sqlite:////absolute.db"
    if parts.scheme == "file":
        return None if parts.path else "a file URI names its folder: file:///folder"
    return (f"it must start with one of {[s + ':' for s in TRACKING_SCHEMES]} "
            f"(or be 'databricks')")


def check_tracking(uri: Any, experiment: Any) -> tuple[str | None, str | None]:
    """Validate the tracking arguments of ``fit``; returns them as given.

    Tracking is on only when ``uri`` is given: ``MLFLOW_TRACKING_URI`` in the environment
    alone does not switch it on (a cluster's environment often sets it for other jobs).

    Raises:
        InvalidTypeError: ``uri`` or ``experiment`` is not a string.
        InvalidInputError: an unknown URI scheme, ``experiment`` without ``uri``, an empty
            experiment name.
        MissingDependencyError: ``uri`` given but mlflow is not installed.
    """
    if uri is None:
        if experiment is not None:
            raise InvalidInputError(
                f"`mlflow_experiment={experiment!r}` needs `mlflow_uri` (e.g. "
                f"'http://127.0.0.1:5000' or 'sqlite:///mlflow.db'): tracking is on only when "
                f"fit is given a URI; MLFLOW_TRACKING_URI alone does not switch it on.")
        return None, None
    if not isinstance(uri, str):
        raise InvalidTypeError(f"`mlflow_uri` must be a string such as 'http://127.0.0.1:5000', "
                               f"but got {type(uri).__name__} {uri!r}.")
    rule = _scheme_rule(uri)
    if rule:
        raise InvalidInputError(f"`mlflow_uri` {uri!r} is not a tracking URI zoo_tune takes: "
                                f"{rule}.")
    if experiment is not None:
        if not isinstance(experiment, str):
            raise InvalidTypeError(f"`mlflow_experiment` must be a string, but got "
                                   f"{type(experiment).__name__} {experiment!r}.")
        if not experiment.strip():
            raise InvalidInputError("`mlflow_experiment` must be a non-empty name (or None: "
                                    "the estimator's name).")
    try:
        import mlflow  # noqa: F401
    except ImportError as err:
        raise missing_dependency("fit(mlflow_uri=...)", "mlflow", "mlflow") from err
    return uri, experiment
