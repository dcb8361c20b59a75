"""What zoo_tune's own searchers (skopt, bayesopt, ax) share: the search space taken from
either side, and their state kept as one pickled dict.

Example:
    >>> issubclass(__import__("zoo_tune.search._ax", fromlist=["AxSearch"]).AxSearch,
    ...            OwnSearcher)  # doctest: +SKIP
    True
"""

from __future__ import annotations

import pickle
from typing import Any

from ray.tune.search import Searcher

from zoo_tune.errors import InvalidInputError


class OwnSearcher(Searcher):
    """Ray Tune ``Searcher`` plumbing: subclasses define :meth:`_has_space` and :meth:`_setup`.

    A space given to the constructor is kept (``set_search_properties`` returns ``False``),
    and Ray Tune's metric and mode fill in only those not given there.
    """

    def _has_space(self) -> bool:
        raise NotImplementedError

    def _setup(self, space: dict[str, Any]) -> None:
        raise NotImplementedError

    def _mode_known(self) -> None:
        """Called when ``set_search_properties`` filled in a mode the constructor lacked."""

    def set_search_properties(self, metric: str | None, mode: str | None,
                              config: dict[str, Any], **spec: Any) -> bool:
        """Take metric, mode and the search space from Ray Tune (see the class docstring)."""
        if self._has_space():
            had_mode = self._mode
            self._metric = self._metric or metric
            self._mode = self._mode or mode
            if self._mode and not had_mode:
                self._mode_known()
            return False
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        self._setup(config)
        return True

    def _valid_state(self, state: Any) -> bool:
        """Whether ``state`` (from :meth:`restore`'s file) is this searcher's."""
        return isinstance(state, dict)

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue."""
        return dict(self.__dict__)

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`get_state`'s result."""
        self.__dict__.update(state)

    def save(self, checkpoint_path: str) -> None:
        """Pickle :meth:`get_state` to ``checkpoint_path``."""
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        """Load a state :meth:`save` wrote; suggestions continue where they stopped."""
        with open(checkpoint_path, "rb") as f:
            state = pickle.load(f)
        if not self._valid_state(state):
            raise InvalidInputError(f"{checkpoint_path!r} does not hold a "
                                    f"{type(self).__name__} state.")
        missing = sorted(set(self.get_state()) - set(state))
        if missing:  # saved by a zoo_tune whose searcher kept other things: not continued
            raise InvalidInputError(
                f"{checkpoint_path!r} holds a {type(self).__name__} state from another zoo_tune "
                f"version (it lacks {missing}); start the search afresh, or resume with the "
                f"version that saved it.")
        self.set_state(state)
