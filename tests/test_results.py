"""zoo_tune.results: a trial's rows are one per epoch, in epoch order, whatever their source."""

from __future__ import annotations

from zoo_tune.results import _one_per_epoch, _unlogged_epochs


def test_epochs_only_the_checkpoint_holds_are_put_in_their_place():
    """A resumed trial whose result.json lost epoch 1 (killed driver): the checkpoint's
    history brings it back, before epochs 2-4, not after them (it once came last, and the
    trial table's history was rotated)."""
    rows = [{"epoch": e, "acc": v} for e, v in ((2, 0.7), (3, 0.8), (4, 0.9))]
    progress = {"metric": "acc", "history": [[1, 0.6], [2, 0.7], [3, 0.8], [4, 0.9]]}
    merged = _one_per_epoch(rows + _unlogged_epochs(progress, rows))
    assert [r["epoch"] for r in merged] == [1, 2, 3, 4]
    assert [r["acc"] for r in merged] == [0.6, 0.7, 0.8, 0.9]


def test_a_repeated_epoch_keeps_its_newest_report():
    rows = [{"epoch": 1, "acc": 0.5}, {"epoch": 2, "acc": 0.6}, {"epoch": 2, "acc": 0.65}]
    assert [r["acc"] for r in _one_per_epoch(rows)] == [0.5, 0.65]


def test_rows_without_epochs_stay_as_they_are():
    rows = [{"acc": 0.5}, {"acc": 0.6}]
    assert _one_per_epoch(rows) == rows
