"""The live progress view of a fit in Jupyter: one ``tqdm.auto`` bar updated in place.

``tqdm.auto`` is tqdm's notebook widget in a Jupyter kernel (with ``ipywidgets``) and its text
bar elsewhere. The bar counts finished trials out of the planned total; its text holds the
running count, the best value so far with its config, and tqdm's elapsed time and ETA.

Example:
    >>> in_notebook()  # a plain Python process
    False
"""

from __future__ import annotations

import sys
from typing import Any


def in_notebook() -> bool:
    """True inside a Jupyter kernel (an IPython ``ZMQInteractiveShell``)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class ProgressWidget:
    """A tqdm bar of finished trials, with the run's state as its postfix.

    Args:
        total: Planned trials, or ``None`` when open-ended.
        metric: The metric's name, shown beside the best value.
    """

    def __init__(self, total: int | None, metric: str) -> None:
        from tqdm.auto import tqdm

        self.metric = metric
        self.bar: Any = tqdm(total=total, desc="zoo_tune", unit="trial", dynamic_ncols=True)

    def update(self, done: int, running: int, errors: int, best: float | None,
               best_config: dict[str, Any] | None) -> None:
        """Show ``done`` finished trials and the rest of the state."""
        self.bar.n = done
        parts = [f"{running} running"]
        if errors:
            parts.append(f"{errors} error{'s' * (errors > 1)}")
        if best is not None:
            parts.append(f"best {self.metric} {best:.4g} {best_config}")
        self.bar.set_postfix_str(" | ".join(parts), refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        """Leave the bar showing its final state."""
        self.bar.close()
