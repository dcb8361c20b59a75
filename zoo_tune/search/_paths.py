"""Where a searched value sits in a search space, and each config built around the space.

zoo_tune's own searchers (bayesopt, skopt, ax) search a few values of a space and pass the
rest through. Each searched value is known by its path in the space (``("a", "b")``, or
``("a", 0)`` for the first item of a list ``a``) and named after it (``"a/b"``, ``"a/0"``);
a config is a copy of the space with the searched values put at their paths. So constants
come back exactly as the space holds them: flattening the whole space instead (Ray's
``parse_spec_vars`` or ``flatten_dict``, then ``unflatten_dict``) turned ``[1, 2, 3]`` into
``{"0": 1, "1": 2, "2": 3}``, dropped empty dicts and failed on keys that are no str.

Example:
    >>> space = {"lr": "searched", "layers": [64, 32], "opt": {"name": "adam", "args": {}}}
    >>> filled(space, {("lr",): 0.01})
    {'lr': 0.01, 'layers': [64, 32], 'opt': {'name': 'adam', 'args': {}}}
    >>> path_name(("layers", 1)), value_at(space, ("layers", 1))
    ('layers/1', 32)
    >>> values_in({"opt/name": "sgd", "layers": [8, 4]}, {"a": ("opt", "name"), "b": ("lr",)})
    {'a': 'sgd'}
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, TypeVar

from zoo_tune.errors import InvalidInputError

#: A value's place in a nested config: dict keys and list / tuple positions, outermost first.
Path = tuple[Any, ...]
K = TypeVar("K", bound=Hashable)


def path_name(path: Path) -> str:
    """The ``outer/inner`` name of a path.

    Example:
        >>> path_name(("model", "layers", 0))
        'model/layers/0'
    """
    return "/".join(map(str, path))


def clash(owner: str, name: str, first: Path, second: Path) -> InvalidInputError:
    """The error for two paths that share a name (a key holding ``/``, or ``1`` and ``"1"``).

    Example:
        >>> print(clash("ax", "a/b", ("a/b",), ("a", "b")))
        ax names nested parameters 'outer/inner', so ('a/b',) and ('a', 'b') clash as 'a/b'.
    """
    return InvalidInputError(f"{owner} names nested parameters 'outer/inner', so {first} and "
                             f"{second} clash as {name!r}.")


def named_paths(paths: Iterable[Path], owner: str) -> dict[str, Path]:
    """Each path under its :func:`path_name`, in order.

    Raises:
        InvalidInputError: Two paths share a name (see :func:`clash`; ``owner`` begins it).

    Example:
        >>> named_paths([("x",), ("nest", "y")], "search_alg 'bayesopt'")
        {'x': ('x',), 'nest/y': ('nest', 'y')}
    """
    named: dict[str, Path] = {}
    for path in paths:
        name = path_name(path)
        if name in named:
            raise clash(owner, name, named[name], tuple(path))
        named[name] = tuple(path)
    return named


def filled(space: Mapping[Any, Any], values: Mapping[Path, Any]) -> dict[Any, Any]:
    """A copy of ``space`` with ``values[path]`` put at each path.

    Only the dicts, lists and tuples on the way to a path are rebuilt (keeping their type and
    key order); everything else is deep-copied as it is, so constants come back exactly as
    given and a trial that changes its config changes neither the space nor another config.

    Example:
        >>> filled({"w": [None, 8], "k": (1, 2)}, {("w", 0): 0.5})
        {'w': [0.5, 8], 'k': (1, 2)}
    """
    along = {tuple(path[:i]) for path in values for i in range(1, len(path))}

    def fill(node: Any, path: Path) -> Any:
        if path in values:
            return values[path]
        if path not in along:
            return copy.deepcopy(node)
        if isinstance(node, Mapping):
            return {key: fill(value, (*path, key)) for key, value in node.items()}
        items = [fill(value, (*path, i)) for i, value in enumerate(node)]
        return items if isinstance(node, list) else tuple(items)

    return {key: fill(value, (key,)) for key, value in space.items()}


def value_at(config: Any, path: Path) -> Any:
    """The value at ``path`` in a nested config, through dicts, lists and tuples.

    Raises:
        KeyError: ``config`` has no value there.

    Example:
        >>> value_at({"a": [1, {"b": 2}]}, ("a", 1, "b"))
        2
    """
    node = config
    try:
        for key in path:
            node = node[key]
    except (KeyError, IndexError, TypeError):
        raise KeyError(path) from None
    return node


def flat_config(config: Mapping[Any, Any], stop: Iterable[str] = (),
                prefix: str = "") -> dict[str, Any]:
    """A config's values under ``outer/inner`` names, through its dicts but not into the
    values named in ``stop`` (a searched value may be a dict itself).

    Example:
        >>> flat_config({"a": {"b": 1, "c": {"d": 2}}, "e": [3]}, stop={"a/c"})
        {'a/b': 1, 'a/c': {'d': 2}, 'e': [3]}
    """
    stop = stop if isinstance(stop, (set, frozenset)) else set(stop)
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if name not in stop and isinstance(value, Mapping):
            flat.update(flat_config(value, stop, f"{name}/"))
        else:
            flat[name] = value
    return flat


def values_in(point: Mapping[Any, Any], paths: Mapping[K, Path]) -> dict[K, Any]:
    """The value a point gives each of ``paths``: at the path (a point nested like the space),
    or under its ``outer/inner`` name (a point flattened, as Ray Tune's ``flatten_dict`` does).

    Returns:
        The values by the keys of ``paths``, leaving out those the point lacks.

    Example:
        >>> values_in({"nest/y": 0.5, "w": [1.5]},
        ...           {"y": ("nest", "y"), "w0": ("w", 0), "z": ("z",)})
        {'y': 0.5, 'w0': 1.5}
    """
    flat = flat_config(point, {path_name(path) for path in paths.values()})
    found: dict[K, Any] = {}
    for key, path in paths.items():
        try:
            found[key] = value_at(point, path)
        except KeyError:
            if path_name(path) in flat:
                found[key] = flat[path_name(path)]
    return found
