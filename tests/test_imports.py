"""The package's shape: no import circle between zoo_tune's modules.

Every ``import`` counts, a function's deferred one too. An import of a name from a package
(``from zoo_tune.data import LocalArrays``) counts as an import of the module the package's
``__init__.py`` takes it from, so a circle hidden behind a package's face is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module and package under ``root/zoo_tune``."""
    found = {}
    for path in (root / "zoo_tune").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_package(modules: dict[str, Path], name: str) -> bool:
    return name in modules and modules[name].name == "__init__.py"


def _reexports(modules: dict[str, Path], package: str) -> dict[str, str]:
    """Name -> the module a package's ``__init__.py`` imports it from."""
    names = {}
    for node in ast.walk(ast.parse(modules[package].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = node.module
    return names


def _resolve(modules: dict[str, Path], module: str, name: str, depth: int = 0) -> set[str]:
    """The non-package modules that ``from module import name`` depends on."""
    if f"{module}.{name}" in modules and not _is_package(modules, f"{module}.{name}"):
        return {f"{module}.{name}"}
    if not _is_package(modules, module):
        return {module} if module in modules else set()
    source = _reexports(modules, module).get(name)
    if source is None or depth > 5 or not source.startswith("zoo_tune"):
        return set()
    return _resolve(modules, source, name, depth + 1) if _is_package(modules, source) else (
        {source} if source in modules else set())


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the zoo_tune modules (not packages) it imports, anywhere in its file."""
    modules = _modules(root)
    graph = {}
    for name, path in modules.items():
        if _is_package(modules, name):
            continue
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (
                    node.module or "").startswith("zoo_tune"):
                for alias in node.names:
                    deps |= _resolve(modules, node.module, alias.name)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names
                         if a.name in modules and not _is_package(modules, a.name)}
        graph[name] = deps - {name}
    return graph


def reach(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def circles(graph: dict[str, set[str]]) -> list[str]:
    """The modules that reach themselves through their imports."""
    return sorted(m for m in graph if m in reach(graph, m))


def test_no_import_circle_in_the_package():
    graph = import_graph()
    assert len(graph) > 50 and "zoo_tune.data._types" in graph
    found = circles(graph)
    assert found == [], {m: sorted(graph[m]) for m in found}


def test_the_walk_finds_a_circle_and_one_behind_a_package(tmp_path):
    package = tmp_path / "zoo_tune"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from zoo_tune.sub._b import B\n")
    (package / "_a.py").write_text("def f():\n    from zoo_tune.sub import B\n")
    (package / "sub" / "_b.py").write_text("from zoo_tune import _a\nB = 1\n")
    (package / "_c.py").write_text("import zoo_tune._a\n")
    graph = import_graph(tmp_path)
    assert graph["zoo_tune._a"] == {"zoo_tune.sub._b"}
    assert circles(graph) == ["zoo_tune._a", "zoo_tune.sub._b"]
