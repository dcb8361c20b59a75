"""examples/quickstart.ipynb, executed headless by nbclient in a real Jupyter kernel."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.test_readme import quick_start_code

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def notebook_code(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_the_notebook_is_the_readme_quick_start_with_its_widget():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert "verbose=1)" in notebook_code(nb)
    assert notebook_code(nb).replace("verbose=1)", "verbose=0)").split() == \
        quick_start_code().split()
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quickstart_notebook_runs_headless_with_one_live_widget(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = cell.source.replace("/tmp/zoo_tune_logs", str(tmp_path / "logs"))
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(out.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for out in c.outputs)
    accuracy = float(re.search(r"best validation accuracy: ([0-9.]+)", text).group(1))
    assert accuracy >= 0.9
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    bars = {k: m["state"] for k, m in state.items()
            if m["model_name"] in ("FloatProgressModel", "IntProgressModel")}
    # tqdm.notebook writes its text as HTML with figure spaces (U+2007)
    labels = [html.unescape(m["state"].get("value", "")).replace("\u2007", " ")
              for m in state.values() if m["model_name"] == "HTMLModel"]
    assert len(bars) == 1, bars  # one widget, updated in place
    (bar,) = bars.values()
    assert bar["value"] == bar["max"] == 4  # 2 samples x 2 grid points, all done
    assert any(re.search(r"best accuracy 0\.9\d*", label) for label in labels), labels
    assert any("0 running" in label for label in labels), labels
    fit_cell = next(c for c in nb.cells if "est.fit(" in c.source)
    views = [o for o in fit_cell.outputs
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1
    # the progress line is not printed beside the widget
    assert not any("[zoo_tune]" in o.get("text", "") for o in fit_cell.outputs
                   if o.get("name") == "stderr" and "done |" in o.get("text", ""))
