"""Whether a ``fit`` starts a new experiment, continues a stored one, or loads a finished one.

The experiment folder ``<logs_dir>/<name>`` is the one source of truth: zoo_tune writes
``zoo_tune_experiment.json`` there before the first trial and marks it ``finished`` once
Ray Tune's loop has ended on its own. Running the same script again (a killed driver, a
YARN application re-attempt, Ctrl-C) finds it and, with ``resume="auto"`` (the default),
continues the run: Ray Tune's ``Tuner.restore`` brings back every trial, the searcher and
the newest checkpoints. A finished experiment is loaded instead of being run again.

Example:
    >>> decide("auto", None, {"metric": "loss"}, "/tmp/x/run")
    'fresh'
"""

from __future__ import annotations

from typing import Any

from zoo_tune.errors import InvalidInputError, InvalidTypeError

#: What must match between the stored experiment and the ``fit`` that resumes it.
COMPARED = ("metric", "mode", "epochs", "search_space")
RESUME_CHOICES = ("auto", True, False)


def check_resume(resume: Any) -> Any:
    """Raise unless ``resume`` is ``"auto"``, ``True`` or ``False``."""
    if not (resume is True or resume is False or (isinstance(resume, str) and resume == "auto")):
        kind = InvalidTypeError if not isinstance(resume, (str, bool)) else InvalidInputError
        raise kind(f"`resume` must be one of {list(RESUME_CHOICES)}, but got {resume!r}: "
                   f"'auto' continues an unfinished experiment of the same name, True insists "
                   f"on one, False refuses to touch one.")
    return resume


def differences(stored: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: stored -> new`` for every :data:`COMPARED` key whose values differ."""
    return [f"{key}: stored {stored.get(key)!r}, now {new.get(key)!r}"
            for key in COMPARED if stored.get(key) != new.get(key)]


def decide(resume: Any, stored: dict[str, Any] | None, new: dict[str, Any],
           where: str) -> str:
    """``"fresh"``, ``"resume"`` or ``"load"`` for a ``fit`` whose experiment folder is ``where``.

    Args:
        resume: ``fit``'s ``resume`` argument.
        stored: The stored experiment metadata (:func:`zoo_tune._experiment.read_meta`), or
            ``None``.
        new: This ``fit``'s metadata (the :data:`COMPARED` keys at least).
        where: The experiment folder's URI, for messages.

    Raises:
        InvalidInputError: ``resume=True`` with nothing stored, ``resume=False`` with an
            experiment stored, or a stored experiment that differs from this ``fit``.
    """
    if stored is None:
        if resume is True:
            raise InvalidInputError(f"resume=True, but {where!r} holds no zoo_tune experiment "
                                    f"to resume: check logs_dir and name, or pass "
                                    f"resume='auto' to start one.")
        return "fresh"
    if resume is False:
        raise InvalidInputError(f"{where!r} already holds a zoo_tune experiment and "
                                f"resume=False: pass resume='auto' (or True) to continue it, "
                                f"another `name`, or delete the folder.")
    changed = differences(stored, new)
    if changed:
        raise InvalidInputError(f"Cannot resume {where!r}: this fit differs from the stored "
                                f"experiment in {'; '.join(changed)}. Pass the same arguments, "
                                f"another `name`, or resume=False after deleting the folder.")
    return "load" if stored.get("finished") else "resume"
