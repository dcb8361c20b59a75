"""AutoEstimator.from_torch end to end on real local Ray with real torch training."""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest
import torch
from torch import nn

from zoo_tune import AutoEstimator, hp
from zoo_tune.errors import TrialError

pytestmark = pytest.mark.usefixtures("ray_local")


def linear(config):
    return nn.Sequential(nn.Linear(4, config.get("hidden", 8)), nn.ReLU(),
                         nn.Linear(config.get("hidden", 8), 3))


def recording_linear(config, record_dir):
    """A model creator that records which process built it and its torch thread count."""
    name = f"{os.getpid()}_{torch.get_num_threads()}_{os.urandom(4).hex()}"
    path = os.path.join(record_dir, name)
    open(path, "w").close()
    return linear(config)


def loader_creator(config, x, y):
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    return torch.utils.data.DataLoader(ds, batch_size=config.get("batch_size", 32), shuffle=True)


def predict(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def test_numpy_fit_best_model_is_best_epoch_checkpoint(tmp_path, blobs):
    (x, y), (xv, yv) = blobs
    est = AutoEstimator.from_torch(model_creator=linear, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path), name="np")
    # A grid over slow and fast rates: random draws could all be slow (Adam at lr=1e-3
    # stays near 0.5 accuracy after three epochs), while lr=0.1 always passes 0.98.
    est.fit((x, y), validation_data=(xv, yv), epochs=3, metric="accuracy", n_sampling=1,
            search_space={"lr": hp.grid_search([0.003, 0.03, 0.1]), "hidden": hp.choice([4, 8])},
            verbose=0)
    table = est.get_trial_table()
    assert len(table) == 3
    assert set(table["status"]) == {"TERMINATED"}
    assert all(len(h) == 3 for h in table["accuracy_history"])
    best_row = table.loc[table["best_accuracy"].idxmax()]
    assert est.get_best_config() == best_row["config"]
    assert best_row["best_accuracy"] == max(best_row["accuracy_history"])
    # The best model holds exactly the weights of the best epoch's checkpoint ...
    model = est.get_best_model()
    from_ckpt = linear(best_row["config"])
    from_ckpt.load_state_dict(torch.load(os.path.join(best_row["checkpoint"], "model.pt")))
    from_ckpt.eval()
    np.testing.assert_array_equal(predict(model, xv), predict(from_ckpt, xv))
    # ... and so reproduces the best epoch's validation accuracy.
    accuracy = float((predict(model, xv).argmax(1) == yv).mean())
    assert accuracy == pytest.approx(best_row["best_accuracy"])
    assert accuracy > 0.8
    # Storage keeps the best epoch's checkpoint and the newest (for retries and resume).
    for _, row in table.iterrows():
        ckpts = sorted(d for d in os.listdir(row["logdir"]) if d.startswith("checkpoint_"))
        best_is_last = row["best_epoch"] == len(row["accuracy_history"])
        assert len(ckpts) == (1 if best_is_last else 2), (ckpts, row["accuracy_history"])
        assert os.path.basename(row["checkpoint"]) in ckpts


def test_creators_and_loader(tmp_path, blobs):
    (x, y), (xv, yv) = blobs
    train = functools.partial(loader_creator, x=x, y=y)
    val_loader = loader_creator({"batch_size": 64}, xv, yv)

    def optim_creator(model, config):
        return torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)

    est = AutoEstimator.from_torch(model_creator=linear, optimizer=optim_creator,
                                   loss=lambda config: nn.CrossEntropyLoss(),
                                   logs_dir=str(tmp_path))
    est.fit(train, validation_data=val_loader, epochs=2, metric="accuracy", n_sampling=2,
            search_space={"lr": hp.uniform(0.05, 0.1), "batch_size": hp.choice([16, 32])},
            verbose=0)
    table = est.get_trial_table()
    assert len(table) == 2 and set(table["status"]) == {"TERMINATED"}
    assert table["best_accuracy"].max() > 0.8
    assert all(0.05 <= c["lr"] < 0.1 and c["batch_size"] in (16, 32) for c in table["config"])


class TwoInTwoOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(2, 8), nn.Linear(2, 8)
        self.cls, self.reg = nn.Linear(16, 3), nn.Linear(16, 1)

    def forward(self, xa, xb):
        h = torch.relu(torch.cat([self.a(xa), self.b(xb)], dim=1))
        return self.cls(h), self.reg(h)


class MultiLoss(nn.Module):
    """CrossEntropy for the class output, MSE for the regression output."""

    def forward(self, out, y):
        if y.dtype == torch.int64:
            return nn.functional.cross_entropy(out, y)
        return nn.functional.mse_loss(out, y)


def test_multi_input_multi_output(tmp_path, blobs):
    (x, y), (xv, yv) = blobs
    xs, ys = [x[:, :2], x[:, 2:]], [y, x.sum(axis=1)]
    est = AutoEstimator.from_torch(model_creator=lambda c: TwoInTwoOut(), optimizer="Adam",
                                   loss=MultiLoss(), logs_dir=str(tmp_path))
    est.fit((xs, ys), validation_data=([xv[:, :2], xv[:, 2:]], [yv, xv.sum(axis=1)]),
            epochs=2, metric="loss", search_space={"lr": hp.choice([0.01, 0.05])},
            n_sampling=2, verbose=0)
    table = est.get_trial_table()
    assert len(table) == 2
    histories = table["loss_history"].tolist()
    assert all(len(h) == 2 and np.isfinite(h).all() for h in histories)
    assert est.get_best_config()["lr"] in (0.01, 0.05)


def test_grid_times_n_sampling_and_threshold(tmp_path, blobs):
    (x, y), (xv, yv) = blobs
    est = AutoEstimator.from_torch(model_creator=linear, optimizer="Adam", loss="CrossEntropyLoss",
                                   logs_dir=str(tmp_path))
    est.fit((x, y), validation_data=(xv, yv), epochs=4, metric="accuracy",
            metric_threshold=0.0, n_sampling=2,
            search_space={"hidden": hp.grid_search([4, 8, 16]), "lr": hp.uniform(1e-3, 1e-2)},
            verbose=0)
    table = est.get_trial_table()
    assert len(table) == 6
    assert sorted(c["hidden"] for c in table["config"]) == [4, 4, 8, 8, 16, 16]
    assert list(table["epochs"]) == [1] * 6  # every trial reached 0.0 after its first epoch


def test_custom_metric_and_mode_alias(tmp_path, blobs):
    (x, y), (xv, yv) = blobs

    def error_rate(y_true, y_pred):
        return float((np.asarray(y_pred).argmax(1) != y_true).mean())

    est = AutoEstimator.from_torch(model_creator=linear, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path))
    est.fit((x, y), validation_data=(xv, yv), epochs=2, metric=error_rate, mode="min",
            search_space={"lr": hp.choice([1e-4, 5e-2])}, n_sampling=2, verbose=0)
    table = est.get_trial_table()
    best = table.loc[table["best_error_rate"].idxmin()]
    assert est.get_best_config() == best["config"]
    model = est.get_best_model()
    assert error_rate(yv, predict(model, xv)) == pytest.approx(best["best_error_rate"])


def test_workers_reused_and_threads_follow_resources(tmp_path, blobs):
    (x, y), _ = blobs
    record = tmp_path / "record"
    record.mkdir()
    creator = functools.partial(recording_linear, record_dir=str(record))
    est = AutoEstimator.from_torch(model_creator=creator, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path),
                                   resources_per_trial={"cpu": 2})
    est.fit((x, y), epochs=1, metric="accuracy", n_sampling=5,
            search_space={"lr": hp.uniform(1e-3, 1e-2)}, verbose=0)
    builds = [name.split("_") for name in os.listdir(record)]
    trial_builds = [b for b in builds if int(b[0]) != os.getpid()]
    assert len(trial_builds) == 5
    assert len({b[0] for b in trial_builds}) == 1  # one trial at a time: one reused process
    assert {b[1] for b in trial_builds} == {"2"}  # torch threads = resources_per_trial cpu


def test_numpy_data_is_put_once(tmp_path, blobs, monkeypatch):
    import ray

    (x, y), (xv, yv) = blobs
    puts = []
    real_put = ray.put

    def counting_put(value, *args, **kwargs):
        puts.append(type(value))
        return real_put(value, *args, **kwargs)

    monkeypatch.setattr(ray, "put", counting_put)
    est = AutoEstimator.from_torch(model_creator=linear, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path))
    est.fit((x, y), validation_data=(xv, yv), epochs=1, metric="accuracy", n_sampling=4,
            search_space={"lr": hp.uniform(1e-3, 1e-2)}, verbose=0)
    # One put for the training arrays, one for the validation arrays, whatever the trial count.
    assert puts.count(tuple) == 2


def test_callers_object_ref_is_used_as_it_is(tmp_path, blobs, monkeypatch):
    """Data already in the object store (float32/int64) is never copied or put again."""
    import ray

    (x, y), (xv, yv) = blobs
    train_ref, val_ref = ray.put((x, y)), ray.put((xv, yv.astype(np.int32)))
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda value, *a, **k: puts.append(value) or real_put(
        value, *a, **k))
    est = AutoEstimator.from_torch(model_creator=linear, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path), name="ref")
    est.fit(train_ref, validation_data=val_ref, epochs=2, metric="accuracy", n_sampling=1,
            search_space={"lr": hp.grid_search([0.05, 0.1])}, verbose=0)
    # The training ref is reused; the int32 validation labels had to be cast: one new put.
    data_puts = [p for p in puts if isinstance(p, tuple)]  # not Tune's put of the trial plan
    assert len(data_puts) == 1 and data_puts[0][1][0].dtype == np.int64
    assert est.get_trial_table()["best_accuracy"].max() > 0.9
    from zoo_tune.data import check_input, prepare_input

    trial_input = prepare_input(check_input(train_ref, "data", "torch"))
    assert trial_input.ref is train_ref and trial_input.callers_ref
    xs, ys = trial_input.arrays()
    np.testing.assert_array_equal(xs[0], x)
    np.testing.assert_array_equal(ys[0], y)
    with pytest.raises(TypeError, match="must hold an \\(x, y\\) tuple"):
        check_input(ray.put(x), "data", "torch")


def test_object_store_arrays_are_read_zero_copy(blobs):
    import ray

    from zoo_tune.data import check_input, prepare_input

    (x, y), _ = blobs
    trial_input = prepare_input(check_input((x, y), "data", "torch"))

    @ray.remote
    def inspect(inp):
        xs, ys = inp.arrays()
        return [(a.flags.writeable, a.flags.owndata, a.dtype.str) for a in xs + ys]

    flags = ray.get(inspect.remote(trial_input))
    # Not writable and not owning its buffer: a view on shared object-store memory.
    assert flags == [(False, False, "<f4"), (False, False, "<i8")]


def failing_creator(config):
    if config["hidden"] == 16:
        raise ArithmeticError("hidden=16 is cursed")
    return linear(config)


def test_failed_trial_reports_its_own_traceback(tmp_path, blobs):
    (x, y), _ = blobs
    est = AutoEstimator.from_torch(model_creator=failing_creator, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path))
    est.fit((x, y), epochs=1, metric="accuracy", verbose=0,
            search_space={"hidden": hp.grid_search([4, 16])} | {"lr": 0.01})
    table = est.get_trial_table().set_index(table_key := "status", drop=False)
    assert sorted(table[table_key]) == ["ERROR", "TERMINATED"]
    error = table.loc["ERROR", "error"]
    assert "hidden=16 is cursed" in error and "failing_creator" in error
    assert est.get_best_config()["hidden"] == 4


class Exploding(nn.Module):
    """Builds fine (so the driver's check passes) and fails in its first forward pass."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 3)

    def forward(self, x):
        raise ArithmeticError("no trial survives")


def always_failing(config):
    return Exploding()


def test_all_trials_failing_raises_with_traceback(tmp_path, blobs):
    (x, y), _ = blobs
    est = AutoEstimator.from_torch(model_creator=always_failing, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path))
    with pytest.raises(TrialError, match="no trial survives") as info:
        est.fit((x, y), epochs=1, metric="accuracy", n_sampling=2, verbose=0,
                search_space={"lr": hp.uniform(1e-3, 1e-2)})
    assert "in forward" in str(info.value)  # the trial's own traceback
    assert "All 2 trials failed" in str(info.value)


def test_new_process_opens_experiment_from_its_path(tmp_path, blobs):
    import json
    import subprocess
    import sys

    (x, y), (xv, yv) = blobs
    est = AutoEstimator.from_torch(model_creator=linear, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path), name="kept")
    est.fit((x, y), validation_data=(xv, yv), epochs=2, metric="accuracy", n_sampling=3,
            search_space={"lr": hp.loguniform(1e-3, 1e-1)}, verbose=0)
    assert est.experiment_path == str(tmp_path / "kept")
    np.save(tmp_path / "xv.npy", xv)
    code = (
        "import json, sys, numpy as np, torch\n"
        "from zoo_tune import AutoEstimator\n"
        f"est = AutoEstimator.load({est.experiment_path!r})\n"
        f"x = torch.from_numpy(np.load({str(tmp_path / 'xv.npy')!r}))\n"
        "pred = est.get_best_model()(x).argmax(1).tolist()\n"
        "print(json.dumps({'config': est.get_best_config(), 'pred': pred,\n"
        "                  'trials': len(est.get_trial_table())}))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=root, timeout=300, env={**os.environ, "PYTHONPATH": root})
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["config"] == est.get_best_config()
    assert loaded["trials"] == 3
    assert loaded["pred"] == predict(est.get_best_model(), xv).argmax(1).tolist()


def test_load_rejects_a_folder_without_experiment(tmp_path):
    from zoo_tune.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="holds no zoo_tune experiment"):
        AutoEstimator.load(str(tmp_path))


def test_unsupported_storage_scheme_lists_supported(tmp_path):
    from zoo_tune.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"Unsupported storage scheme 'gs'.*'local'"):
        AutoEstimator.from_torch(model_creator=linear, optimizer="Adam", loss="L1Loss",
                                 logs_dir="gs://bucket/runs")


@pytest.mark.parametrize(("keep", "expected"), [(2, 2), (None, 4)])
def test_keep_checkpoints_bounds_storage(tmp_path, keep, expected):
    # Labels a model learns steadily: every one of 4 epochs improves the loss.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32))[:, None]
    est = AutoEstimator.from_torch(model_creator=lambda c: nn.Linear(4, 1), optimizer="SGD",
                                   loss="MSELoss", logs_dir=str(tmp_path), name="keep",
                                   keep_checkpoints=keep)
    est.fit((x, y), epochs=4, metric="mse", search_space={"lr": 0.01}, verbose=0)
    row = est.get_trial_table().iloc[0]
    assert row["mse_history"] == sorted(row["mse_history"], reverse=True)  # all improved
    kept = [d for d in os.listdir(row["logdir"]) if d.startswith("checkpoint_")]
    assert len(kept) == expected
    assert row["best_epoch"] == 4 and row["checkpoint"].endswith(max(kept))
