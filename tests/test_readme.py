"""The README's quick start and the main job's example, run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def test_example_smoke_run(tmp_path):
    output = run_python([str(ROOT / "examples" / "digits_cnn.py"), "--smoke-test",
                         "--logs-dir", str(tmp_path / "logs")], tmp_path)
    accuracy = float(re.search(r"best validation accuracy: ([0-9.]+)", output).group(1))
    assert 0.1 < accuracy <= 1.0  # one epoch, two trials: trained, not necessarily tuned
    assert (tmp_path / "logs" / "digits_cnn_smoke").is_dir()
