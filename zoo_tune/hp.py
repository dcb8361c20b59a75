"""Search-space functions: each one validates its arguments and says exactly what it yields.

A search space is a ``dict`` from hyper-parameter name to a value built here, a constant, or a
nested ``dict``. Every function returns a :class:`Param`, which turns into the matching Ray Tune
domain when trials are generated, and round-trips through JSON (:func:`space_to_json`,
:func:`space_from_json`) so a run can write its space beside its results.

Example:
    >>> from zoo_tune import hp
    >>> space = {"lr": hp.loguniform(1e-4, 1e-1), "batch_size": hp.choice([32, 64]),
    ...          "layers": hp.grid_search([1, 2])}
    >>> hp.space_from_json(hp.space_to_json(space)) == space
    True
"""

from __future__ import annotations

import base64
import importlib
import json
import math
import numbers
import random as _random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zoo_tune.errors import InvalidInputError, InvalidTypeError

__all__ = [
    "Param",
    "uniform",
    "quniform",
    "loguniform",
    "qloguniform",
    "randn",
    "qrandn",
    "randint",
    "qrandint",
    "choice",
    "choice_n",
    "sample_from",
    "grid_search",
    "space_to_json",
    "space_from_json",
    "grid_size",
    "to_ray_space",
    "validate_space",
]


@dataclass(frozen=True)
class Param:
    """One hyper-parameter's distribution, as built by the functions of this module.

    Attributes:
        kind: The function that built it (``"uniform"``, ``"choice"``, ...).
        args: Its arguments by name, JSON-compatible except ``sample_from``'s function.
    """

    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_ray(self) -> Any:
        """Return the Ray Tune domain (or ``grid_search`` dict) that samples these values."""
        return _TO_RAY[self.kind](**self.args)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-compatible description; :func:`space_from_json` reads it back."""
        if self.kind == "sample_from":
            return {"type": "sample_from", **_function_to_json(self.args["func"])}
        return {"type": self.kind, **self.args}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Param) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        # Equal Params must hash equal: uniform(0, 1) == uniform(0.0, 1.0), so hash no values.
        return hash((self.kind, tuple(sorted(self.args))))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} characters)"


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"`{name}` must be a real number, but got {_short(value)} "
                               f"of type {type(value).__name__}.")
    # Plain int or float (numpy scalars, Fractions...), so the space stays JSON-compatible.
    try:
        value = int(value) if isinstance(value, numbers.Integral) else float(value)
        finite = math.isfinite(value)
    except OverflowError:  # an int (or Fraction) beyond float range
        finite = False
    if not finite:
        raise InvalidInputError(f"`{name}` must be finite, but got {_short(value)}.")
    return value


#: Integer bounds must fit numpy's int64, which Ray Tune samples them with.
_INT64 = (-(2**63), 2**63 - 1)


def _integer(name: str, value: Any, int64: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(f"`{name}` must be an int, but got {_short(value)} "
                               f"of type {type(value).__name__}.")
    value = int(value)
    if int64 and not _INT64[0] <= value <= _INT64[1]:
        raise InvalidInputError(f"`{name}` must fit in 64 bits (-2**63 <= {name} < 2**63), but "
                                f"got {_short(value)}.")
    return value


def _bounds(fn: str, lower: float, upper: float, strict: bool = True) -> None:
    if lower > upper or (strict and lower == upper):
        rule = "lower < upper" if strict else "lower <= upper"
        raise InvalidInputError(f"hp.{fn}: `{rule}` must hold, but got "
                                f"(lower={lower!r}, upper={upper!r}).")


def _positive(fn: str, name: str, value: float) -> None:
    if value <= 0:
        raise InvalidInputError(f"hp.{fn}: `{name} > 0` must hold, but got {name}={value!r}.")


def _grid_fits(fn: str, lower: float, upper: float, q: float) -> None:
    """Ray Tune samples a quantized float by its grid index ``value / q``, as a 64-bit int."""
    lo, hi = lower / q, upper / q
    if not max(abs(lo), abs(hi)) < 2.0**63:
        raise InvalidInputError(f"hp.{fn}: `q` is too small for the bounds: |lower / q| and "
                                f"|upper / q| must be below 2**63, but got q={q!r} with "
                                f"lower={lower!r}, upper={upper!r}; widen q.")


def _has_multiple(fn: str, lower: float, upper: float, q: float) -> None:
    if isinstance(lower, int) and isinstance(upper, int) and isinstance(q, int):
        none = upper // q < -(-lower // q)  # exact for ints
    else:
        none = math.floor(upper / q + 1e-9) < math.ceil(lower / q - 1e-9)
    if none:
        raise InvalidInputError(f"hp.{fn}: no multiple of q={q!r} lies between lower={lower!r} "
                                f"and upper={upper!r}; widen the bounds or shrink q.")


def _finite_width(fn: str, lower: float, upper: float) -> None:
    if not math.isfinite(float(upper) - float(lower)):
        raise InvalidInputError(f"hp.{fn}: `upper - lower` must be a finite float, but got "
                                f"(lower={lower!r}, upper={upper!r}); narrow the bounds.")


def uniform(lower: float, upper: float) -> Param:
    """A float drawn uniformly from ``[lower, upper)``: ``upper`` is excluded.

    Example:
        >>> 0.0 <= hp.uniform(0, 1).to_ray().sample() < 1.0  # doctest: +SKIP
    """
    lower, upper = _number("lower", lower), _number("upper", upper)
    _bounds("uniform", lower, upper)
    _finite_width("uniform", lower, upper)
    return Param("uniform", {"lower": lower, "upper": upper})


def quniform(lower: float, upper: float, q: float) -> Param:
    """A multiple of ``q`` drawn uniformly from ``[lower, upper]``: ``upper`` is included.

    ``hp.quniform(0, 1, 0.25)`` gives 0.0, 0.25, 0.5, 0.75 or 1.0.
    """
    lower, upper, q = _number("lower", lower), _number("upper", upper), _number("q", q)
    _bounds("quniform", lower, upper)
    _finite_width("quniform", lower, upper)
    _positive("quniform", "q", q)
    _grid_fits("quniform", lower, upper, q)
    _has_multiple("quniform", lower, upper, q)
    return Param("quniform", {"lower": lower, "upper": upper, "q": q})


def loguniform(lower: float, upper: float, base: float = 10) -> Param:
    """A float whose logarithm is uniform on ``[log lower, log upper)``: ``upper`` excluded.

    ``base`` (default 10, Orca's argument) must be positive and not 1; the distribution does
    not depend on it. ``0 < lower < upper`` must hold.

    Example:
        >>> hp.loguniform(1e-4, 1e-1)
        Param(kind='loguniform', args={'lower': 0.0001, 'upper': 0.1, 'base': 10})
    """
    lower, upper, base = _number("lower", lower), _number("upper", upper), _number("base", base)
    _positive("loguniform", "lower", lower)
    _bounds("loguniform", lower, upper)
    if base <= 0 or base == 1:
        raise InvalidInputError(f"hp.loguniform: `base > 0 and base != 1` must hold, "
                                f"but got base={base!r}.")
    return Param("loguniform", {"lower": lower, "upper": upper, "base": base})


def qloguniform(lower: float, upper: float, q: float, base: float = 10) -> Param:
    """A log-uniform float in ``[lower, upper]`` rounded to a multiple of ``q``; upper included.

    ``0 < lower < upper`` and ``q > 0`` must hold, with a multiple of ``q`` in the range.
    """
    lower, upper = _number("lower", lower), _number("upper", upper)
    q, base = _number("q", q), _number("base", base)
    _positive("qloguniform", "lower", lower)
    _bounds("qloguniform", lower, upper)
    _positive("qloguniform", "q", q)
    _grid_fits("qloguniform", max(lower, q), upper, q)
    _has_multiple("qloguniform", max(lower, q), upper, q)
    if base <= 0 or base == 1:
        raise InvalidInputError(f"hp.qloguniform: `base > 0 and base != 1` must hold, "
                                f"but got base={base!r}.")
    return Param("qloguniform", {"lower": lower, "upper": upper, "q": q, "base": base})


def randn(mean: float = 0.0, sd: float = 1.0) -> Param:
    """A float drawn from the normal distribution N(mean, sd²): any real value."""
    mean, sd = _number("mean", mean), _number("sd", sd)
    _positive("randn", "sd", sd)
    return Param("randn", {"mean": mean, "sd": sd})


def qrandn(mean: float, sd: float, q: float) -> Param:
    """A normal draw N(mean, sd²) rounded to the nearest multiple of ``q``."""
    mean, sd, q = _number("mean", mean), _number("sd", sd), _number("q", q)
    _positive("qrandn", "sd", sd)
    _positive("qrandn", "q", q)
    return Param("qrandn", {"mean": mean, "sd": sd, "q": q})


def randint(lower: int, upper: int) -> Param:
    """An int drawn uniformly from ``lower, ..., upper - 1``: ``upper`` is excluded.

    ``hp.randint(2, 5)`` gives 2, 3 or 4.
    """
    lower, upper = _integer("lower", lower, True), _integer("upper", upper, True)
    _bounds("randint", lower, upper)
    return Param("randint", {"lower": lower, "upper": upper})


def qrandint(lower: int, upper: int, q: int = 1) -> Param:
    """A multiple of ``q`` drawn uniformly from ``[lower, upper]``: ``upper`` is included.

    ``hp.qrandint(0, 10, 5)`` gives 0, 5 or 10; ``hp.qrandint(1, 3)`` gives 1, 2 or 3 (unlike
    Ray Tune's own ``qrandint``, ``upper`` is included for ``q=1`` too).
    """
    lower, upper = _integer("lower", lower, True), _integer("upper", upper, True)
    q = _integer("q", q, True)
    _bounds("qrandint", lower, upper, strict=False)
    _positive("qrandint", "q", q)
    _has_multiple("qrandint", lower, upper, q)
    return Param("qrandint", {"lower": lower, "upper": upper, "q": q})


def _plain(value: Any) -> Any:
    """A numpy / torch scalar or array as a plain Python value (JSON-compatible)."""
    if isinstance(value, (str, bytes, Sequence, Mapping)):
        return value
    for attr in ("tolist", "item"):
        method = getattr(value, attr, None)
        if callable(method):
            try:
                return method()
            except (TypeError, ValueError):
                continue
    return value


def _categories(fn: str, categories: Any, name: str = "categories") -> list[Any]:
    if hasattr(categories, "tolist") and not isinstance(categories, (list, tuple)):
        categories = categories.tolist()
    if isinstance(categories, (str, bytes)) or not isinstance(categories, Sequence):
        raise InvalidTypeError(f"hp.{fn}: `{name}` must be a list, but got "
                               f"{_short(categories)} of type {type(categories).__name__}.")
    if len(categories) == 0:
        raise InvalidInputError(f"hp.{fn}: `{name}` must not be empty.")
    return [_plain(c) for c in categories]


def choice(categories: Sequence[Any]) -> Param:
    """One item of ``categories``, each with equal probability.

    Example:
        >>> hp.choice([16, 32]).args
        {'categories': [16, 32]}
    """
    return Param("choice", {"categories": _categories("choice", categories)})


def choice_n(categories: Sequence[Any], min_items: int, max_items: int) -> Param:
    """A list of distinct items of ``categories``, between ``min_items`` and ``max_items`` long.

    Both lengths are inclusive and equally likely; the items keep their order in
    ``categories`` and are plain Python values. ``1 <= min_items <= max_items <=
    len(categories)`` must hold.

    Example:
        >>> hp.choice_n(["a", "b", "c"], 1, 2).args["max_items"]
        2
    """
    cats = _categories("choice_n", categories)
    lo, hi = _integer("min_items", min_items), _integer("max_items", max_items)
    if not 1 <= lo <= hi <= len(cats):
        raise InvalidInputError(
            f"hp.choice_n: `1 <= min_items <= max_items <= len(categories)` must hold, but got "
            f"(min_items={lo}, max_items={hi}, len(categories)={len(cats)}).")
    return Param("choice_n", {"categories": cats, "min_items": lo, "max_items": hi})


def sample_from(func: Callable[[Any], Any]) -> Param:
    """Whatever ``func(config)`` returns; ``config`` holds the other resolved values.

    Example:
        >>> p = hp.sample_from(lambda config: config["units"] * 2)
    """
    if not callable(func):
        raise InvalidTypeError(f"hp.sample_from: `func` must be callable, but got {func!r}.")
    return Param("sample_from", {"func": func})


def grid_search(values: Sequence[Any]) -> Param:
    """Every item of ``values``, each in its own trial (times ``n_sampling``).

    Example:
        >>> hp.grid_search([1, 2]).args
        {'values': [1, 2]}
    """
    return Param("grid_search", {"values": _categories("grid_search", values, "values")})


def _ray_choice_n(categories: list[Any], min_items: int, max_items: int) -> Any:
    from ray import tune

    def draw(_spec: Any) -> list[Any]:
        k = _random.randint(min_items, max_items)
        picked = sorted(_random.sample(range(len(categories)), k))
        return [categories[i] for i in picked]

    return tune.sample_from(draw)


def _grid_bounds(lower: float, upper: float, q: float) -> dict[str, float]:
    """``lower`` and ``upper`` moved inwards onto multiples of ``q``.

    Ray's float ``quantized`` rejects bounds that are not multiples of ``q``; its sampler draws
    from these inward-rounded bounds anyway, so the values drawn are unchanged.
    """
    # floats: Ray's float sampler calls np.isfinite, which an int beyond int64 breaks
    return {"lower": float(math.ceil(lower / q - 1e-9) * q),
            "upper": float(math.floor(upper / q + 1e-9) * q)}


def _ray(name: str, *keys: str, **fixed: Any) -> Callable[..., Any]:
    def build(**args: Any) -> Any:
        from ray import tune

        return getattr(tune, name)(*(args[k] for k in keys), **fixed)

    return build


_TO_RAY: dict[str, Callable[..., Any]] = {
    "uniform": _ray("uniform", "lower", "upper"),
    "quniform": lambda lower, upper, q: _ray("quniform", "lower", "upper", "q")(
        **_grid_bounds(lower, upper, q), q=q),
    # Ray takes np.log of the bounds, which fails on an int beyond int64: pass floats.
    "loguniform": lambda lower, upper, base: _ray("loguniform", "lower", "upper")(
        lower=float(lower), upper=float(upper)),
    "qloguniform": lambda lower, upper, q, base: _ray("qloguniform", "lower", "upper", "q")(
        **_grid_bounds(max(lower, q), upper, q), q=float(q)),
    "randn": _ray("randn", "mean", "sd"),
    "qrandn": _ray("qrandn", "mean", "sd", "q"),
    "randint": _ray("randint", "lower", "upper"),
    # Ray's qrandint excludes ``upper`` when q == 1 only; ours always includes it.
    "qrandint": lambda lower, upper, q: _ray("qrandint", "lower", "upper", "q")(
        lower=lower, upper=upper + 1 if q == 1 else upper, q=q),
    "choice": _ray("choice", "categories"),
    "choice_n": _ray_choice_n,
    "sample_from": _ray("sample_from", "func"),
    "grid_search": _ray("grid_search", "values"),
}


def _function_to_json(func: Callable[..., Any]) -> dict[str, str]:
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", "")
    if module and qualname and "<" not in qualname and module != "__main__":
        path = {"func": f"{module}:{qualname}"}
        try:
            # Bound methods, partials and callable objects do not come back by path: pickle.
            if _function_from_json(path) is func:
                return path
        except (ImportError, AttributeError):
            pass
    import cloudpickle

    return {"pickle": base64.b64encode(cloudpickle.dumps(func)).decode("ascii")}


def _function_from_json(data: Mapping[str, str]) -> Callable[..., Any]:
    if "func" in data:
        module, qualname = data["func"].split(":")
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj
    import cloudpickle

    return cloudpickle.loads(base64.b64decode(data["pickle"]))


def _is_ray_domain(value: Any) -> bool:
    from ray.tune.search.sample import Domain

    return isinstance(value, Domain)


def validate_space(space: Any, name: str = "search_space") -> None:
    """Check that ``space`` is a non-empty dict with string keys; raise otherwise.

    Raises:
        InvalidTypeError: ``space`` is not a dict, a key is not a string, or a raw
            ``{"grid_search": ...}`` value does not hold a list.
        InvalidInputError: ``space`` (or a nested dict in it) is empty, a raw grid list is
            empty, or ``space`` itself is a bare ``{"grid_search": ...}``.
    """
    if not isinstance(space, Mapping):
        raise InvalidTypeError(f"`{name}` must be a dict from hyper-parameter name to an hp "
                               f"value or constant, but got {type(space).__name__}: {space!r}.")
    if not space:
        raise InvalidInputError(f"`{name}` must not be empty: give at least one hyper-parameter, "
                                f"e.g. {{'lr': hp.loguniform(1e-4, 1e-1)}}.")
    if _is_grid_dict(space):  # only the top level: nested grid dicts are values
        raise InvalidInputError(f"`{name}` must map hyper-parameter names to values, but got a "
                                f"bare {{'grid_search': ...}}; name the hyper-parameter, e.g. "
                                f"{{'units': hp.grid_search([16, 32])}}.")
    for key, value in space.items():
        if not isinstance(key, str):
            raise InvalidTypeError(f"`{name}` keys must be strings, but got {key!r} "
                                   f"of type {type(key).__name__}.")
        if isinstance(value, Mapping) and not _is_grid_dict(value):
            validate_space(value, f"{name}[{key!r}]")
        elif isinstance(value, Mapping):
            _check_grid_dict(value["grid_search"], f"{name}[{key!r}]['grid_search']")


def _check_grid_dict(values: Any, name: str) -> None:
    """A raw ``{"grid_search": [...]}`` value must hold a non-empty list, as hp.grid_search."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise InvalidTypeError(f"`{name}` must be a list of values (or use hp.grid_search), "
                               f"but got {_short(values)} of type {type(values).__name__}.")
    if len(values) == 0:
        raise InvalidInputError(f"`{name}` must not be empty: give at least one value.")


def _is_grid_dict(value: Mapping[str, Any]) -> bool:
    return set(value) == {"grid_search"}


def grid_size(space: Mapping[str, Any]) -> int:
    """How many grid points ``space``'s ``grid_search`` values make (1 without any).

    Example:
        >>> grid_size({"a": grid_search([1, 2]), "b": {"c": grid_search([3, 4, 5])}})
        6
    """
    size = 1
    for value in space.values():
        if isinstance(value, Param) and value.kind == "grid_search":
            size *= len(value.args["values"])
        elif isinstance(value, Mapping) and not _is_grid_dict(value):
            size *= grid_size(value)
        elif isinstance(value, Mapping):
            size *= len(value["grid_search"])
    return size


def to_ray_space(space: Mapping[str, Any]) -> dict[str, Any]:
    """Translate a zoo_tune space into Ray Tune's ``param_space``.

    Nested dicts and lists are translated too (``{"layers": [hp.randint(1, 4), 8]}``).
    """

    def convert(value: Any) -> Any:
        if isinstance(value, Param):
            return value.to_ray()
        if isinstance(value, Mapping) and not _is_grid_dict(value):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return convert(space)


def space_to_json(space: Mapping[str, Any]) -> str:
    """Serialise a search space to a JSON string.

    Constants must be JSON-compatible; ``sample_from`` functions are stored by import path
    when they have one, else pickled (base64). Raw Ray Tune domains are stored by ``repr``
    and cannot be read back.
    """

    def encode(value: Any) -> Any:
        if isinstance(value, Param):
            return {"__hp__": value.to_dict()}
        if isinstance(value, Mapping):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [encode(v) for v in value]
        if _is_ray_domain(value):
            return {"__ray_domain__": repr(value)}
        return value

    return json.dumps(encode(space), sort_keys=True)


def space_from_json(text: str) -> dict[str, Any]:
    """Read back a search space written by :func:`space_to_json`."""

    def decode(value: Any) -> Any:
        if isinstance(value, dict) and "__hp__" in value:
            data = dict(value["__hp__"])
            kind = data.pop("type")
            if kind == "sample_from":
                return Param(kind, {"func": _function_from_json(data)})
            return Param(kind, data)
        if isinstance(value, dict) and "__ray_domain__" in value:
            raise InvalidInputError(f"A raw Ray Tune domain ({value['__ray_domain__']}) was "
                                    "stored by repr only; use zoo_tune.hp to make it readable.")
        if isinstance(value, dict):
            return {k: decode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    return decode(json.loads(text))
