"""Keep triton out of a process once TensorFlow is loaded there: loading it then crashes.

TensorFlow's ``libtensorflow_framework.so.2`` puts its copy of LLVM in the process's global
symbol scope. triton's native module (``triton/_C/libtriton.so``) carries another LLVM and
calls it through exported symbols, so once TensorFlow is loaded the dynamic loader binds those
calls to TensorFlow's copy, and libtriton's static initialisers (``llvm::DebugCounter``'s
registration) crash with SIGSEGV. torch imports triton with ``torch._dynamo``, which the first
``torch.optim`` optimizer a process builds imports: a torch fit in a process that had imported
TensorFlow (a notebook that tried Keras first) died. triton loaded first, then TensorFlow, works.

triton only compiles GPU kernels for ``torch.compile``, and torch treats it as optional. So
where TensorFlow is loaded and triton is not, zoo_tune marks triton absent: ``None`` in
``sys.modules``, Python's documented way to stop an import (torch 2.13 has no switch of its
own). ``import triton`` then raises ``ModuleNotFoundError`` and
``importlib.util.find_spec("triton")`` returns ``None``, both of which torch reads as "no
triton": torch trains as before, and ``torch.compile`` has no triton GPU kernels in that
process. :func:`install` marks it at once when TensorFlow is already loaded, and otherwise puts
a finder first on ``sys.meta_path`` that marks it as soon as TensorFlow starts loading (a
``find_spec("tensorflow")`` probe alone, as libraries do to see whether TensorFlow is there,
marks nothing). ``import zoo_tune`` installs it: in the driver, and in each Ray worker, which
imports zoo_tune when it unpickles a trial, before the trial builds a model or an optimizer.

Example:
    >>> from zoo_tune._triton_guard import install
    >>> install()
"""

from __future__ import annotations

import importlib.abc
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

logger = logging.getLogger(__name__)

_TENSORFLOW = "tensorflow"
_TRITON = "triton"


def _mark_triton_absent_if_needed() -> bool:
    """Mark triton absent when TensorFlow is loaded and triton is not; True once settled.

    Settled: triton is loaded (TensorFlow after triton is fine) or marked absent (by us or by
    someone else), so nothing is left to watch for.
    """
    if _TRITON in sys.modules:
        return True
    if _TENSORFLOW not in sys.modules:
        return False
    sys.modules[_TRITON] = None  # type: ignore[assignment]  # stops the import (documented)
    logger.debug("TensorFlow is loaded and triton is not: marking triton absent (None in "
                 "sys.modules), because loading triton's native module after TensorFlow's "
                 "crashes the process; torch runs without triton here, and torch.compile has "
                 "no triton GPU kernels in this process.")
    return True


class _TensorFlowWatch(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``: finds nothing, checks for TensorFlow on each new import.

    TensorFlow's package module is in ``sys.modules`` while it loads, before it imports its
    submodules and native libraries, so the first of those imports marks triton absent.
    """

    def __init__(self) -> None:
        self.settled = False

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> None:
        """Check (until settled), then leave the import to the other finders."""
        if not self.settled:
            self.settled = _mark_triton_absent_if_needed()
        return None


def install() -> None:
    """Keep triton from loading in this process once TensorFlow is loaded; idempotent.

    Marks triton absent now if TensorFlow is already loaded (and triton is not), else watches
    imports for TensorFlow. Call it before torch can import ``torch._dynamo``; ``import
    zoo_tune`` does.

    Example:
        >>> install()  # ``import zoo_tune`` has done it already; a second call changes nothing
    """
    if _mark_triton_absent_if_needed():
        return
    if not any(isinstance(finder, _TensorFlowWatch) for finder in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowWatch())
