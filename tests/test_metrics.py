"""Tests of zoo_tune.metrics: built-in values against scikit-learn, and resolve_metric."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from zoo_tune import metrics
from zoo_tune.errors import InvalidInputError, InvalidTypeError
from zoo_tune.metrics import BUILTIN_METRICS, MetricSpec, resolve_metric

# --------------------------------------------------------------------------- fixed data

Y_BIN = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0])
P_BIN = np.array([0.1, 0.8, 0.4, 0.3, 0.9, 0.6, 0.7, 0.2, 0.05, 0.55, 0.65, 0.45])
P_BIN_2COL = np.stack([1 - P_BIN, P_BIN], axis=1)
LABELS_BIN = (P_BIN > 0.5).astype(int)

Y_MC = np.array([0, 1, 2, 2, 1, 0, 2, 1, 0, 2, 1, 1, 0, 2])
_LOGITS = np.random.default_rng(42).normal(size=(len(Y_MC), 3)) + 1.5 * np.eye(3)[Y_MC]
P_MC = np.exp(_LOGITS) / np.exp(_LOGITS).sum(axis=1, keepdims=True)
LABELS_MC = P_MC.argmax(axis=1)

Y_REG = np.array([3.0, -0.5, 2.0, 7.0, 4.2, 1.5, -2.0])
P_REG = np.array([2.5, 0.0, 2.1, 7.8, 3.9, 1.0, -1.2])
Y_POS = np.array([0.5, 1.0, 2.0, 3.5, 10.0, 0.1])
P_POS = np.array([0.6, 0.8, 2.5, 3.0, 12.0, 0.3])
Y_2D = np.array([[0.5, 1.0], [-1.0, 1.0], [7.0, -6.0], [2.0, 0.0], [1.0, 3.0]])
P_2D = np.array([[0.0, 2.0], [-1.0, 2.0], [8.0, -5.0], [2.5, 0.5], [1.0, 2.5]])


def test_fixed_data_is_not_trivial():
    # the classifiers make mistakes, so a metric that ignored its input would be caught
    assert 0.5 < skm.accuracy_score(Y_BIN, LABELS_BIN) < 1
    assert 0.4 < skm.accuracy_score(Y_MC, LABELS_MC) < 1
    assert set(LABELS_MC) == {0, 1, 2}


# --------------------------------------------------------------------------- accuracy

def test_accuracy_class_ids():
    y_pred = np.array([0, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 0])
    assert metrics.accuracy(Y_BIN, y_pred) == pytest.approx(skm.accuracy_score(Y_BIN, y_pred))
    assert metrics.accuracy(Y_MC, LABELS_MC) == pytest.approx(
        skm.accuracy_score(Y_MC, LABELS_MC))


def test_accuracy_one_hot_y_true():
    one_hot = np.eye(3)[Y_MC]
    expected = skm.accuracy_score(Y_MC, LABELS_MC)
    assert metrics.accuracy(one_hot, P_MC) == pytest.approx(expected)
    assert metrics.accuracy(one_hot, LABELS_MC) == pytest.approx(expected)


def test_accuracy_two_column_probabilities():
    expected = skm.accuracy_score(Y_BIN, LABELS_BIN)
    assert metrics.accuracy(Y_BIN, P_BIN_2COL) == pytest.approx(expected)
    assert metrics.accuracy(Y_MC, P_MC) == pytest.approx(skm.accuracy_score(Y_MC, LABELS_MC))


def test_accuracy_single_column_probabilities():
    expected = skm.accuracy_score(Y_BIN, LABELS_BIN)
    assert metrics.accuracy(Y_BIN, P_BIN) == pytest.approx(expected)
    assert metrics.accuracy(Y_BIN, P_BIN[:, None]) == pytest.approx(expected)
    assert metrics.accuracy(Y_BIN[:, None], P_BIN[:, None]) == pytest.approx(expected)


def test_accuracy_returns_plain_float():
    assert type(metrics.accuracy(Y_BIN, P_BIN)) is float


# --------------------------------------------------------------------------- precision etc.

PRF = [
    (metrics.precision, skm.precision_score),
    (metrics.recall, skm.recall_score),
    (metrics.f1, skm.f1_score),
]
PRF_IDS = ["precision", "recall", "f1"]


@pytest.mark.parametrize("ours, theirs", PRF, ids=PRF_IDS)
def test_binary_prf(ours, theirs):
    expected = theirs(Y_BIN, LABELS_BIN)
    assert ours(Y_BIN, LABELS_BIN) == pytest.approx(expected)
    assert ours(Y_BIN, P_BIN) == pytest.approx(expected)
    assert ours(Y_BIN, P_BIN_2COL) == pytest.approx(expected)
    assert ours(np.eye(2)[Y_BIN], P_BIN_2COL) == pytest.approx(expected)


@pytest.mark.parametrize("ours, theirs", PRF, ids=PRF_IDS)
def test_multiclass_prf_is_macro(ours, theirs):
    expected = theirs(Y_MC, LABELS_MC, average="macro", zero_division=0)
    assert ours(Y_MC, LABELS_MC) == pytest.approx(expected)
    assert ours(Y_MC, P_MC) == pytest.approx(expected)
    assert ours(np.eye(3)[Y_MC], P_MC) == pytest.approx(expected)
    # macro differs from micro here, so the averaging is really checked
    assert expected != pytest.approx(theirs(Y_MC, LABELS_MC, average="micro"))


@pytest.mark.parametrize("ours, theirs", PRF, ids=PRF_IDS)
def test_multiclass_prf_with_unpredicted_and_unseen_classes(ours, theirs):
    y_true = np.array([0, 1, 2, 2, 1, 0, 2])
    y_pred = np.array([0, 1, 1, 3, 1, 0, 3])  # never predicts 2; predicts 3, never true
    expected = theirs(y_true, y_pred, average="macro", zero_division=0)
    assert ours(y_true, y_pred) == pytest.approx(expected)


@pytest.mark.parametrize("ours, theirs", PRF, ids=PRF_IDS)
def test_binary_prf_without_positive_predictions(ours, theirs):
    y_pred = np.zeros_like(Y_BIN)
    assert ours(Y_BIN, y_pred) == pytest.approx(theirs(Y_BIN, y_pred, zero_division=0))


# --------------------------------------------------------------------------- auc

def test_auc_binary_scores():
    expected = skm.roc_auc_score(Y_BIN, P_BIN)
    assert 0.5 < expected < 1
    assert metrics.auc(Y_BIN, P_BIN) == pytest.approx(expected)
    assert metrics.auc(Y_BIN, P_BIN[:, None]) == pytest.approx(expected)
    logits = np.log(P_BIN / (1 - P_BIN))
    assert metrics.auc(Y_BIN, logits) == pytest.approx(expected)


def test_auc_two_column_probabilities():
    expected = skm.roc_auc_score(Y_BIN, P_BIN_2COL[:, 1])
    assert metrics.auc(Y_BIN, P_BIN_2COL) == pytest.approx(expected)
    assert metrics.auc(np.eye(2)[Y_BIN], P_BIN_2COL) == pytest.approx(expected)


def test_auc_multiclass_macro_ovr():
    expected = skm.roc_auc_score(Y_MC, P_MC, multi_class="ovr", average="macro")
    assert metrics.auc(Y_MC, P_MC) == pytest.approx(expected)
    assert metrics.auc(np.eye(3)[Y_MC], P_MC) == pytest.approx(expected)


def test_auc_with_tied_scores():
    y_true = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 0])
    scores = np.array([0.5, 0.5, 0.2, 0.5, 0.8, 0.2, 0.8, 0.5, 0.2, 0.1])
    expected = skm.roc_auc_score(y_true, scores)
    assert metrics.auc(y_true, scores) == pytest.approx(expected)
    assert metrics.auc(y_true, np.full(10, 0.3)) == pytest.approx(0.5)


def test_auc_single_class_raises():
    with pytest.raises(ValueError, match="auc is undefined when y_true holds only one class"):
        metrics.auc(np.ones(4, dtype=int), np.array([0.1, 0.4, 0.6, 0.9]))


# --------------------------------------------------------------------------- regression

def test_mse():
    expected = skm.mean_squared_error(Y_REG, P_REG)
    assert metrics.mse(Y_REG, P_REG) == pytest.approx(expected)
    assert metrics.mse(Y_REG, P_REG[:, None]) == pytest.approx(expected)
    assert metrics.mse(Y_2D, P_2D) == pytest.approx(skm.mean_squared_error(Y_2D, P_2D))


def test_rmse_is_root_of_mse():
    assert metrics.rmse(Y_REG, P_REG) == pytest.approx(
        np.sqrt(skm.mean_squared_error(Y_REG, P_REG)))
    assert metrics.rmse(Y_REG, P_REG) == pytest.approx(
        skm.root_mean_squared_error(Y_REG, P_REG))
    assert metrics.rmse(Y_2D, P_2D) == pytest.approx(np.sqrt(metrics.mse(Y_2D, P_2D)))


def test_mae():
    assert metrics.mae(Y_REG, P_REG) == pytest.approx(skm.mean_absolute_error(Y_REG, P_REG))
    assert metrics.mae(Y_2D, P_2D) == pytest.approx(skm.mean_absolute_error(Y_2D, P_2D))


def test_r2():
    assert metrics.r2(Y_REG, P_REG) == pytest.approx(skm.r2_score(Y_REG, P_REG))
    assert metrics.r2(Y_REG, P_REG[:, None]) == pytest.approx(skm.r2_score(Y_REG, P_REG))


def test_r2_multi_output_is_uniform_average():
    expected = skm.r2_score(Y_2D, P_2D, multioutput="uniform_average")
    assert metrics.r2(Y_2D, P_2D) == pytest.approx(expected)
    # differs from the variance-weighted average, so the averaging is really checked
    assert expected != pytest.approx(skm.r2_score(Y_2D, P_2D, multioutput="variance_weighted"))


@pytest.mark.parametrize("y_pred", [np.full(4, 2.0), np.array([2.0, 2.0, 3.0, 2.0])],
                         ids=["exact", "off"])
def test_r2_constant_y_true(y_pred):
    y_true = np.full(4, 2.0)
    assert metrics.r2(y_true, y_pred) == pytest.approx(skm.r2_score(y_true, y_pred))


def test_msle():
    assert metrics.msle(Y_POS, P_POS) == pytest.approx(
        skm.mean_squared_log_error(Y_POS, P_POS))


def test_mape_is_a_fraction():
    expected = skm.mean_absolute_percentage_error(Y_REG, P_REG)
    assert metrics.mape(Y_REG, P_REG) == pytest.approx(expected)
    assert metrics.mape(Y_POS, P_POS) == pytest.approx(
        skm.mean_absolute_percentage_error(Y_POS, P_POS))
    y_zero = np.array([0.0, 1.0, 2.0])
    p_zero = np.array([0.5, 1.0, 1.0])
    assert metrics.mape(y_zero, p_zero) == pytest.approx(
        skm.mean_absolute_percentage_error(y_zero, p_zero))


def test_smape_formula():
    expected = np.mean(200 * np.abs(Y_REG - P_REG) / (np.abs(Y_REG) + np.abs(P_REG)))
    assert metrics.smape(Y_REG, P_REG) == pytest.approx(expected)
    assert metrics.smape(np.array([1.0, 2.0]), np.array([3.0, 2.0])) == pytest.approx(50.0)


def test_mspe_formula():
    expected = 100 * np.mean(((Y_REG - P_REG) / Y_REG) ** 2)
    assert metrics.mspe(Y_REG, P_REG) == pytest.approx(expected)
    assert metrics.mspe(np.array([2.0, 4.0]), np.array([1.0, 4.0])) == pytest.approx(12.5)


def test_perfect_predictions():
    for name in ["mse", "rmse", "mae", "msle", "mape", "smape", "mspe"]:
        assert BUILTIN_METRICS[name][0](Y_POS, Y_POS) == pytest.approx(0.0), name
    assert metrics.r2(Y_POS, Y_POS) == pytest.approx(1.0)
    for name in ["accuracy", "precision", "recall", "f1", "auc"]:
        assert BUILTIN_METRICS[name][0](Y_BIN, Y_BIN.astype(float)) == pytest.approx(1.0), name


# --------------------------------------------------------------------------- resolve_metric

def my_metric(y_true, y_pred):
    return 0.0


@pytest.mark.parametrize("name", sorted(BUILTIN_METRICS))
def test_builtin_metric_brings_its_mode(name):
    fn, mode = BUILTIN_METRICS[name]
    spec = resolve_metric(name)
    assert spec == MetricSpec(name, mode, fn, "loss" if fn is None else "builtin")
    assert resolve_metric(name, mode) == spec


@pytest.mark.parametrize("name, mode", [
    ("accuracy", "max"), ("auc", "max"), ("f1", "max"), ("r2", "max"), ("mse", "min"),
    ("rmse", "min"), ("mape", "min"), ("loss", "min"), ("mean_loss", "min"),
])
def test_builtin_modes(name, mode):
    assert resolve_metric(name).mode == mode


@pytest.mark.parametrize("name, right, wrong", [
    ("accuracy", "max", "min"), ("mse", "min", "max"), ("loss", "min", "max"),
])
def test_mode_contradicting_builtin_raises(name, right, wrong):
    with pytest.raises(ValueError, match=f"Built-in metric '{name}' is optimised with mode "
                                         f"'{right}', but metric_mode='{wrong}'") as info:
        resolve_metric(name, wrong)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, InvalidInputError)


def test_callable_without_mode_raises():
    with pytest.raises(ValueError, match=r"A callable `metric` \(my_metric\) needs "
                                         r"`metric_mode`") as info:
        resolve_metric(my_metric)
    assert isinstance(info.value, RuntimeError)


def test_callable_with_mode_uses_its_name():
    assert resolve_metric(my_metric, "max") == MetricSpec("my_metric", "max", my_metric,
                                                          "callable")
    assert resolve_metric(my_metric, "min").mode == "min"


def test_callable_object_is_named_by_its_class():
    class TopK:
        def __call__(self, y_true, y_pred):
            return 1.0

    obj = TopK()
    spec = resolve_metric(obj, "max")
    assert (spec.name, spec.fn, spec.source) == ("TopK", obj, "callable")


def test_unknown_name_without_mode_lists_builtins():
    with pytest.raises(ValueError, match="Unknown metric 'val_top5' and no `metric_mode`") as info:
        resolve_metric("val_top5")
    assert isinstance(info.value, RuntimeError)
    message = str(info.value)
    assert str(sorted(BUILTIN_METRICS)) in message
    for name in BUILTIN_METRICS:
        assert repr(name) in message
    assert "metric_mode='min' or 'max'" in message


def test_unknown_name_suggests_a_close_builtin():
    with pytest.raises(ValueError, match="Did you mean 'accuracy'\\?"):
        resolve_metric("acuracy")


def test_unknown_name_with_mode_is_a_framework_metric():
    assert resolve_metric("val_top5", "max") == MetricSpec("val_top5", "max", None, "framework")
    assert resolve_metric("val_top5", "min").mode == "min"


@pytest.mark.parametrize("metric", ["mse", "val_top5", None, my_metric])
@pytest.mark.parametrize("mode", ["maximize", "MAX", "", 1])
def test_bad_mode_raises(metric, mode):
    with pytest.raises(ValueError, match=r"`metric_mode` must be one of \['min', 'max'\] or "
                                         r"None, but got") as info:
        resolve_metric(metric, mode)
    assert isinstance(info.value, RuntimeError)
    assert repr(mode) in str(info.value)


def test_bad_mode_suggests_close_mode():
    with pytest.raises(ValueError, match="Did you mean 'max'\\?"):
        resolve_metric("mse", "MAX")


@pytest.mark.parametrize("metric", [3, 0.5, ["mse"], b"mse"])
def test_metric_of_wrong_type_raises(metric):
    with pytest.raises(TypeError, match=r"`metric` must be a metric name, a callable") as info:
        resolve_metric(metric)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, InvalidTypeError)
    assert type(metric).__name__ in str(info.value)


def test_none_means_loss():
    assert resolve_metric(None) == MetricSpec("loss", "min", None, "loss")
    assert resolve_metric(None, "min") == MetricSpec("loss", "min", None, "loss")
    with pytest.raises(ValueError, match="Built-in metric 'loss'"):
        resolve_metric(None, "max")
