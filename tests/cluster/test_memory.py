"""One parser for every memory setting: int bytes or '512m' / '2g' / '1.5g'."""

from __future__ import annotations

import pytest

from zoo_tune import init_context
from zoo_tune.cluster._memory import RULE, cli, jvm_size, mib, parse_memory
from zoo_tune.errors import InvalidInputError, InvalidTypeError

G, M = 1024**3, 1024**2


@pytest.mark.parametrize("value,expected", [
    (2 * G, 2 * G), ("2g", 2 * G), ("2G", 2 * G), ("2gb", 2 * G), (" 512m ", 512 * M),
    ("1.5g", 3 * G // 2), ("1024k", M), ("1t", 1024 * G), (".5g", G // 2), ("10g", 10 * G),
])
def test_sizes_are_bytes(value, expected):
    assert parse_memory("memory", value) == expected


@pytest.mark.parametrize("value,error", [
    ("1024", InvalidInputError), ("2x", InvalidInputError), ("g", InvalidInputError),
    ("-1g", InvalidInputError), ("1,5g", InvalidInputError), (0, InvalidInputError),
    (-5, InvalidInputError), (True, InvalidTypeError), (1.5e9, InvalidTypeError),
    (None, InvalidTypeError), ("0m", InvalidInputError),
])
def test_anything_else_is_refused_with_the_one_message(value, error):
    with pytest.raises(error, match=r"`object_store_memory` must be") as info:
        parse_memory("object_store_memory", value)
    assert RULE in str(info.value) and repr(value) in str(info.value)
    assert isinstance(info.value, RuntimeError)  # zoo_tune's user-input errors are both


def test_spark_gets_whole_mib():
    assert [jvm_size(parse_memory("e", v)) for v in ("1.5g", "1g", "1000k", 1)] == [
        "1536m", "1024m", "1m", "1m"]
    assert mib(M + 1) == 2


def test_the_command_line_form(capsys):
    assert cli(["--executor-memory", "1.5g", "--node-memory", str(2 * G)]) == 0
    assert capsys.readouterr().out.split() == ["1536", "2048"]
    assert cli(["--node-memory", "lots"]) == 2
    assert "`--node-memory` must be" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs,name", [
    ({"memory": "lots"}, "memory"), ({"object_store_memory": "1.2.3g"}, "object_store_memory"),
    ({"cluster_mode": "standalone", "master": "spark://h:1", "executor_memory": 1.5},
     "executor_memory"),
])
def test_init_context_checks_every_memory_setting_before_any_work(kwargs, name):
    with pytest.raises((InvalidInputError, InvalidTypeError), match=f"`{name}` must be"):
        init_context(**kwargs)
