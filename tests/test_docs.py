"""Every Python example of the documentation site (docs/**/*.md) runs.

A ```` ```python ```` block of a page is either

* run: the page's unmarked blocks run in order as one script, in a fresh namespace per page
  (so a page can make its data in its first block and use it below), all pages in one child
  process, in the nav's order, sharing the local Ray that the first page starts: one
  interpreter start and (a page that stops its context aside) one Ray start for the whole
  site. A page whose ``init_context`` settings differ from the default local ones must run
  after a page that stops the context (as clusters/local.md runs after guide/security.md); or
* marked, by an HTML comment on the line before it, as code another test runs:
  ``<!-- docs-test: cluster PATH -->`` (it needs a cluster) or
  ``<!-- docs-test: runs-in PATH -->`` (a longer run that PATH's test makes, such as the quick
  start's notebook). Its lines must then be PATH's own lines, in PATH's order (blank lines and
  comments aside, so a page may leave lines out and explain in comments), and PATH must be a
  test file or a file that a test file names.

README.md's blocks follow the same rules (tests/test_readme.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
KINDS = ("cluster", "runs-in")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*docs-test:\s*(\S+)\s+(\S+)\s*-->\s*\Z")


@dataclass(frozen=True)
class Block:
    """One ```python block: where it is, how it is covered (None: run here), its code."""

    page: str
    line: int
    kind: str | None
    path: str | None
    code: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def python_blocks(page: Path) -> list[Block]:
    """Every ```python block of a Markdown page, with the docs-test marker just above it."""
    text = page.read_text(encoding="utf-8")
    name = str(page.relative_to(ROOT))
    blocks = []
    for fence in FENCE.finditer(text):
        if fence.group(1) not in ("python", "py", "python3", "pycon"):
            continue
        line = text.count("\n", 0, fence.start()) + 1
        assert fence.group(1) == "python", f"{name}:{line}: write ```python, not {fence.group(1)}"
        before = text[:fence.start()].rstrip().rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        if "docs-test" in before:
            assert marker and marker.group(1) in KINDS, \
                f"{name}:{line}: a marker is <!-- docs-test: cluster|runs-in PATH -->: {before!r}"
        blocks.append(Block(name, line, marker.group(1) if marker else None,
                            marker.group(2) if marker else None, fence.group(2)))
    return blocks


def nav_pages(nav: object) -> list[str]:
    """The pages of mkdocs.yml's nav, in the order a reader meets them."""
    if isinstance(nav, str):
        return [nav]
    items = nav.values() if isinstance(nav, dict) else nav
    return [page for item in items for page in nav_pages(item)]


def doc_pages() -> list[Path]:
    """Every page of docs/, in nav order (the order the pages' blocks run), then the rest."""
    import yaml

    nav = nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    pages = [DOCS / page for page in nav if page.endswith(".md")]
    return pages + sorted(set(DOCS.rglob("*.md")) - set(pages))


def all_blocks() -> list[Block]:
    return [b for page in doc_pages() for b in python_blocks(page)]


def code_lines(code: str) -> list[str]:
    """Lines as compared: stripped, without blank lines, comments or trailing comments."""
    lines = []
    for line in code.splitlines():
        line = re.sub(r"\s{2,}#.*$", "", line.strip())  # ruff's E261: two spaces before
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def source_code(path: Path) -> str:
    """A file's code: a notebook's code cells, any other file as it is."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return path.read_text(encoding="utf-8")


def missing_lines(block: list[str], source: list[str]) -> list[str]:
    """The block's lines that are not the source's lines in the source's order."""
    missing, at = [], 0
    for line in block:
        try:
            at = source.index(line, at) + 1
        except ValueError:
            missing.append(line)
    return missing


def run_by_a_test(path: str) -> bool:
    """Is ``path`` a test file, or named by one (so a test runs it)?"""
    if re.fullmatch(r"tests/(.+/)?test_[^/]+\.py", path):
        return True
    name = Path(path).name
    return any(name in t.read_text(encoding="utf-8") for t in (ROOT / "tests").rglob("test_*.py")
               if t.name != Path(__file__).name and t.name != "test_readme.py")


def check_marked(block: Block) -> None:
    """A marked block is the code that PATH's test runs; raise AssertionError if not."""
    source = ROOT / block.path
    assert source.is_file(), f"{block.where}: {block.path} does not exist"
    assert run_by_a_test(block.path), \
        f"{block.where}: no test under tests/ runs {block.path}"
    missing = missing_lines(code_lines(block.code), code_lines(source_code(source)))
    assert not missing, f"{block.where}: lines not in {block.path} (in its order): {missing}"


def test_every_block_compiles_and_is_run_or_marked():
    blocks = all_blocks()
    assert len(blocks) >= 20, [b.where for b in blocks]
    for block in blocks:
        compile(block.code, block.where, "exec")
    assert any(b.kind is None for b in blocks) and any(b.kind == "cluster" for b in blocks)


@pytest.mark.parametrize("block", [b for b in all_blocks() if b.kind],
                         ids=lambda b: b.where)
def test_marked_blocks_are_the_code_a_test_runs(block):
    check_marked(block)


def test_the_marker_check_catches_edited_code():
    block = Block("docs/x.md", 1, "runs-in", "examples/quickstart.ipynb",
                  'init_context(cluster_mode="local")\nest.fit(data=train, epochs=99)\n')
    with pytest.raises(AssertionError, match="epochs=99"):
        check_marked(block)
    with pytest.raises(AssertionError, match="no test"):
        check_marked(Block("docs/x.md", 1, "cluster", "setup.py", "from pathlib import Path"))


#: Runs every page's blocks in one process: argv[1] is a JSON list of [page, [[line, code]]].
RUNNER = textwrap.dedent("""
    import json, sys, time, traceback
    failed = []
    from zoo_tune import stop_context
    for page, blocks in json.load(open(sys.argv[1])):
        namespace = {"__name__": "__main__"}
        start = time.monotonic()
        for line, code in blocks:
            try:
                exec(compile(code, f"{page}:{line}", "exec"), namespace)
            except BaseException:
                failed.append(f"{page}:{line}")
                traceback.print_exc()
                break
        print(f"[docs-test] {page}: {time.monotonic() - start:.1f} s", file=sys.stderr,
              flush=True)
    stop_context()
    print(json.dumps(failed))
""")


@pytest.mark.timeout(600)
def test_every_unmarked_block_runs(tmp_path):
    logs = str(tmp_path / "logs")
    pages: dict[str, list] = {}
    for block in all_blocks():
        if block.kind is None:
            code = block.code.replace("/tmp/zoo_tune_logs", logs)
            pages.setdefault(block.page, []).append([block.line, code])
    plan = tmp_path / "pages.json"
    plan.write_text(json.dumps(list(pages.items())))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_DEDUP_LOGS": "0"}
    for name in ("RAY_ADDRESS", "RAY_AUTH_MODE", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)  # as a user runs the pages: zoo_tune's defaults
    out = subprocess.run([sys.executable, "-c", RUNNER, str(plan)], capture_output=True,
                         text=True, timeout=580, env=env, cwd=tmp_path)
    print("\n".join(line for line in out.stderr.splitlines() if "[docs-test]" in line))
    assert out.returncode == 0, out.stderr[-6000:]
    failed = json.loads(out.stdout.strip().splitlines()[-1])
    assert failed == [], out.stderr[-6000:]
