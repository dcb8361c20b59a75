"""``bench/frame_conversion.py --smoke`` runs end to end and prints sane JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                                 reason="Spark needs Java")]

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_frame_conversion_smoke(tmp_path):
    markdown = tmp_path / "table.md"
    out = subprocess.run([sys.executable, "frame_conversion.py", "--smoke", "--markdown",
                          str(markdown)], cwd=BENCH, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    rows = {(r["method"], r["conf"]): r for r in result["results"]}
    assert set(rows) == {(m, c) for m in ("zoo_tune", "toPandas") for c in ("default", "arrow")}
    for row in rows.values():
        assert row["rows"] == 20_000 and row["rows_per_s"] > 0 and row["wall_s"] > 0
    assert result["arrow_mb"] == pytest.approx(20_000 * (32 * 4 + 8) / 2**20)
    assert set(result["goals"]) >= {"speedup_vs_topandas_default[default]",
                                    "speedup_vs_topandas_arrow[arrow]", "peak_over_arrow[arrow]"}
    assert markdown.read_text().count("\n| zoo_tune |") == 2
