"""Memory sizes: one parser for every memory setting (``init_context``, ``zoo-tune-submit``,
YAML jobs, ``init_orca_context``), one error message.

A size is an int of bytes or a string with a unit, as Orca and the JVM write them: ``"512m"``,
``"2g"``, ``"1.5g"``, ``"1024k"``, ``"1t"`` (1024-based; a trailing ``b`` and upper case are
fine; a decimal is accepted and rounded down to whole bytes). A string without a unit is
refused: Spark reads ``"1024"`` as MiB and the JVM as bytes, so zoo_tune makes you say which.
Spark settings get the size back as whole MiB (``"1536m"``): Spark itself rejects ``"1.5g"``.

``cli(["--NAME", "VALUE", ...])`` prints each size in MiB, one per line
(what ``scripts/zoo-tune-submit`` uses; digits alone are bytes there, as an int is), or the
error and exit status 2.

Example:
    >>> parse_memory("memory", "1.5g"), parse_memory("memory", 2**30)
    (1610612736, 1073741824)
    >>> jvm_size(parse_memory("executor_memory", "1.5g"))
    '1536m'
"""

from __future__ import annotations

import re
import sys
from typing import Any

from zoo_tune.errors import InvalidInputError, InvalidTypeError

#: What a memory setting accepts, as every error message says it.
RULE = ("an int of bytes or a size string with a unit like '512m', '2g' or '1.5g' "
        "(k, m, g, t; 1024-based)")
_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_PATTERN = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([kmgt])b?\s*", re.IGNORECASE)
MIB = 1024**2


def parse_memory(name: str, value: Any, *, minimum: int = 1) -> int:
    """Bytes of the memory setting ``name``; ``InvalidInputError`` naming it and :data:`RULE`.

    Args:
        name: The setting, for the message (``"memory"``, ``"--node-memory"``).
        value: An int of bytes or a size string (see the module docstring).
        minimum: Fewest bytes accepted.

    Raises:
        InvalidTypeError: neither an int nor a string (a bool, a float, ...).
        InvalidInputError: a malformed string, or less than ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidTypeError(f"`{name}` must be {RULE}, but got {value!r}.")
    n_bytes = value
    if isinstance(value, str):
        match = _PATTERN.fullmatch(value)
        if match is None:
            raise InvalidInputError(f"`{name}` must be {RULE}, but got {value!r}.")
        n_bytes = int(float(match[1]) * _UNITS[match[2].lower()])
    if n_bytes < minimum:
        raise InvalidInputError(f"`{name}` must be at least {minimum} bytes ({RULE}), but got "
                                f"{value!r}.")
    return n_bytes


def mib(n_bytes: int) -> int:
    """Whole MiB of ``n_bytes``, rounded up (at least 1)."""
    return max(1, -(-n_bytes // MIB))


def jvm_size(n_bytes: int) -> str:
    """``n_bytes`` as the whole-MiB string Spark settings take (``"1536m"``)."""
    return f"{mib(n_bytes)}m"


def cli(argv: list[str]) -> int:
    """``--NAME VALUE ...`` -> each size in MiB on stdout (0), or the error on stderr (2)."""
    if len(argv) % 2:
        print("usage: python -m zoo_tune.cluster._memory --NAME VALUE ...", file=sys.stderr)
        return 2
    try:
        # On a command line an int is a string: digits alone are bytes, as an int is.
        sizes = [mib(parse_memory(name, int(value) if value.isdigit() else value))
                 for name, value in zip(argv[::2], argv[1::2])]
    except (InvalidInputError, InvalidTypeError) as err:
        print(err, file=sys.stderr)
        return 2
    print("\n".join(map(str, sizes)))
    return 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
