"""The README: a front door under 16 KB whose every code block runs; the main job's example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_MAX_BYTES = 16 * 1024


def quick_start_code() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run_python(args: list[str], tmp_path: Path) -> str:
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                         timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout + out.stderr


# The quick start block runs, as written but with verbose=1, in examples/quickstart.ipynb
# (tests/test_notebook.py checks the notebook is this block, then executes it).


def test_readme_is_a_front_door_under_16_kb():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail to docs/"


def test_every_readme_python_block_is_the_quick_start_or_marked():
    from tests.test_docs import check_marked, python_blocks

    blocks = python_blocks(ROOT / "README.md")
    assert blocks and blocks[0].code == quick_start_code()  # run by tests/test_notebook.py
    for block in blocks[1:]:
        assert block.kind, f"{block.where}: mark it <!-- docs-test: cluster|runs-in PATH -->"
        check_marked(block)


def test_readme_links_to_pages_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert len(links) >= 20, links
    assert [link for link in links if not (ROOT / link).is_file()] == []


def test_example_smoke_run(tmp_path):
    output = run_python([str(ROOT / "examples" / "digits_cnn.py"), "--smoke-test",
                         "--logs-dir", str(tmp_path / "logs")], tmp_path)
    accuracy = float(re.search(r"best validation accuracy: ([0-9.]+)", output).group(1))
    assert 0.1 < accuracy <= 1.0  # one epoch, two trials: trained, not necessarily tuned
    assert (tmp_path / "logs" / "digits_cnn_smoke").is_dir()
