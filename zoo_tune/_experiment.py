"""The files zoo_tune keeps in an experiment's folder beside Ray Tune's, and reading them back.

``<logs_dir>/<name>/`` holds :data:`META_FILE` (what the experiment is: its metric, space,
data, whether it finished) and, while it runs, :data:`STATE_FILE` (what a resuming ``fit``
needs). Both the estimator (which writes and resumes) and tracking (which logs a stored
experiment to MLflow) read them through here, so neither imports the other for it.

Example:
    >>> META_FILE
    'zoo_tune_experiment.json'
"""

from __future__ import annotations

import json
from typing import Any

from zoo_tune.errors import InvalidInputError

#: Files zoo_tune writes beside Ray Tune's experiment state.
META_FILE = "zoo_tune_experiment.json"
STATE_FILE = "zoo_tune_estimator.pkl"


def read_meta(store: Any, name: str) -> dict[str, Any] | None:
    """The stored :data:`META_FILE` of experiment ``name`` in ``store``, or ``None`` if there is
    none.

    Raises:
        InvalidInputError: the file is not valid JSON.
    """
    if not store.exists(f"{name}/{META_FILE}"):
        return None
    try:
        return dict(json.loads(store.read_bytes(f"{name}/{META_FILE}").decode("utf-8")))
    except ValueError as err:
        raise InvalidInputError(f"{store.uri.rstrip('/')}/{name}/{META_FILE} is not valid "
                                f"JSON ({err}): delete the folder or pick another `name`.") \
            from err
