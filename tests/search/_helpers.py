"""What the searcher contract tests share."""

from __future__ import annotations

import subprocess
import sys


def run(searcher, objective, n, metric="loss"):
    """Suggest and complete ``n`` trials one at a time; return the values."""
    values = []
    for i in range(n):
        config = searcher.suggest(f"t{i}")
        values.append(objective(config))
        searcher.on_trial_complete(f"t{i}", {metric: values[-1]})
    return values


def newest_on_pypi(package: str) -> str | None:
    """The newest release `pip index versions` lists, or ``None`` when PyPI does not answer."""
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", package],
                             capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    first = out.stdout.strip().splitlines()[:1]
    return first[0].split("(")[1].rstrip(")") if out.returncode == 0 and first else None
