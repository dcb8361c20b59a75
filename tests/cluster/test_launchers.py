"""The cluster package's shape: one launcher per mode, no import circle."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

from tests.test_imports import circles, reach
from zoo_tune.cluster._modes import CLUSTER_MODES, Launched, launcher, launcher_module

PACKAGE = Path(__file__).resolve().parents[2] / "zoo_tune" / "cluster"


def _imports() -> dict[str, set[str]]:
    """module -> the zoo_tune.cluster modules it imports (anywhere in the file)."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "zoo_tune.cluster"):
                parts = node.module.split(".")
                deps |= ({parts[2]} if len(parts) > 2 else
                         {a.name if a.name.startswith("_") else "__init__" for a in node.names})
        graph[path.stem] = deps - {path.stem}
    return graph


def test_no_module_of_the_cluster_package_imports_back_up():
    graph = _imports()
    found = circles(graph)
    assert found == [], {m: sorted(graph[m]) for m in found}
    launchers = [m for m in graph if m.startswith("_launch_")]
    assert len(launchers) == 4
    assert all("_context" not in reach(graph, m) for m in launchers), graph


def test_every_mode_has_a_launcher_with_start_and_stop():
    for mode in CLUSTER_MODES:
        module = launcher(mode)
        assert module is importlib.import_module(launcher_module(mode))
        start, stop = module.start, module.stop
        assert list(inspect.signature(start).parameters) == [
            "cluster_mode", "settings", "ray_init_kwargs"], mode
        assert list(inspect.signature(stop).parameters) == ["launched"], mode
        assert start.__annotations__["return"] in ("Launched", Launched), mode
