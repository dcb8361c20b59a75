"""Lazy name -> class tables shared by the search-algorithm and scheduler registries."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zoo_tune.errors import (
    InvalidInputError,
    InvalidTypeError,
    ZooTuneError,
    missing_dependency,
)

#: Arguments zoo_tune fills in itself; users never pass them in ``*_params``.
FILLED_BY_ZOO_TUNE = ("metric", "mode")


@dataclass(frozen=True)
class Entry:
    """One registry row: where the class lives and what it needs installed.

    Attributes:
        module: Module path of the class.
        attr: Class name in that module.
        requires: Import names of the optional libraries it needs.
        package: The pip package(s) that provide them.
        extra: The zoo_tune extra that installs them.
    """

    module: str
    attr: str
    requires: tuple[str, ...] = ()
    package: str = ""
    extra: str | None = None

    def load(self, feature: str) -> type:
        """Import and return the class; raise a clear error when a library is missing."""
        for name in self.requires:
            if importlib.util.find_spec(name) is None:
                raise missing_dependency(feature, self.package or name, self.extra)
        return getattr(importlib.import_module(self.module), self.attr)


def accepted_params(cls: type) -> list[str]:
    """The keyword arguments of ``cls.__init__`` a user may set (not metric/mode)."""
    sig = inspect.signature(cls.__init__)
    return [name for name, p in sig.parameters.items()
            if name != "self" and name not in FILLED_BY_ZOO_TUNE
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def takes(cls: type, name: str) -> bool:
    """Whether ``cls.__init__`` has a parameter called ``name``."""
    return name in inspect.signature(cls.__init__).parameters


def check_params(cls: type, params: Any, param_name: str, label: str) -> dict[str, Any]:
    """Validate user ``*_params`` against ``cls``'s signature; return them as a dict.

    Raises:
        InvalidTypeError: ``params`` is not a dict.
        InvalidInputError: a key the class does not take, or one zoo_tune fills in.
    """
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise InvalidTypeError(f"`{param_name}` must be a dict of {label}'s arguments, but got "
                               f"{type(params).__name__}.")
    accepted = accepted_params(cls)
    for key in params:
        if key in FILLED_BY_ZOO_TUNE:
            raise InvalidInputError(f"`{param_name}` must not set {key!r}: zoo_tune passes fit's "
                                    f"metric and metric_mode to {label} itself.")
        if key not in accepted:
            raise InvalidInputError(f"Unknown key {key!r} in `{param_name}` for {label}. "
                                    f"Accepted keys: {sorted(accepted)}.")
    return dict(params)


def construct(cls: type, kwargs: dict[str, Any], params: Any, param_name: str,
              label: str) -> Any:
    """``cls(**kwargs)``, with the class's own argument checks raised as zoo_tune errors.

    Ray Tune's classes check their arguments with asserts, ``TypeError``/``ValueError`` and
    ``TuneError``; ``params`` is what the user passed as ``param_name``.
    """
    from ray.tune.error import TuneError

    sig = inspect.signature(cls.__init__)
    missing = [n for n, p in sig.parameters.items()
               if n != "self" and p.default is p.empty and n not in kwargs
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if missing:
        raise InvalidInputError(f"`{param_name}` must set {missing} for {label}, but got "
                                f"{params!r}.")
    try:
        return cls(**kwargs)
    except ZooTuneError:
        raise
    except (TypeError, ValueError, AssertionError, TuneError) as err:
        kind = InvalidTypeError if isinstance(err, TypeError) else InvalidInputError
        raise kind(f"`{param_name}` must hold arguments {label} accepts, but got {params!r}: "
                   f"{cls.__name__} raised {type(err).__name__}: {err}") from err
