"""Built-in metrics, their optimisation direction, and custom metric callables.

Every built-in metric is ``f(y_true, y_pred) -> float`` on numpy arrays and matches
scikit-learn's function of the same meaning (tested). Shapes are read as follows:

* classification (``accuracy``, ``precision``, ``recall``, ``f1``, ``auc``): ``y_pred`` with
  two or more columns holds per-class scores (probabilities, logits or log-probabilities) and
  its arg-max is the class; a single column or 1-D ``y_pred`` is the positive-class
  probability (class 1 when ``> 0.5``). One-hot ``y_true`` is turned into class ids.
  ``precision``/``recall``/``f1`` are binary for labels {0, 1}, else macro-averaged; ``auc`` is
  binary ROC AUC, or macro one-vs-rest over the score columns.
* regression (``mse``, ``mae``, ``rmse``, ``r2``, ``msle``, ``mape``, ``smape``, ``mspe``):
  ``y_pred`` is reshaped to ``y_true``'s shape when their sizes agree. ``mape`` is a fraction
  (as in scikit-learn), ``smape`` and ``mspe`` are percentages.
* ``loss`` (alias ``mean_loss``) is the validation loss computed by the model's own loss.

Example:
    >>> import numpy as np
    >>> from zoo_tune.metrics import resolve_metric
    >>> spec = resolve_metric("accuracy")
    >>> spec.mode, spec.fn(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]))
    ('max', 1.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from zoo_tune.errors import InvalidInputError, InvalidTypeError, did_you_mean

MetricFn = Callable[[np.ndarray, np.ndarray], float]
_EPS = np.finfo(np.float64).eps


def _class_ids(y: np.ndarray, *, scores: bool) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim >= 2 and y.shape[-1] > 1:
        return y.reshape(-1, y.shape[-1]).argmax(axis=-1)
    y = y.reshape(-1)
    if scores and np.issubdtype(y.dtype, np.floating):
        return (y > 0.5).astype(np.int64)
    return y.astype(np.int64)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of rows whose predicted class equals the true class."""
    return float(np.mean(_class_ids(y_true, scores=False) == _class_ids(y_pred, scores=True)))


def _precision_recall(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t, p = _class_ids(y_true, scores=False), _class_ids(y_pred, scores=True)
    labels = np.union1d(t, p)
    if set(labels.tolist()) <= {0, 1}:
        labels = np.array([1])
    tp = np.array([np.sum((p == c) & (t == c)) for c in labels], dtype=np.float64)
    pred_pos = np.array([np.sum(p == c) for c in labels], dtype=np.float64)
    true_pos = np.array([np.sum(t == c) for c in labels], dtype=np.float64)
    precision = np.divide(tp, pred_pos, out=np.zeros_like(tp), where=pred_pos > 0)
    recall = np.divide(tp, true_pos, out=np.zeros_like(tp), where=true_pos > 0)
    return precision, recall


def precision(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Precision of class 1 for binary labels, else the macro average over classes."""
    return float(np.mean(_precision_recall(y_true, y_pred)[0]))


def recall(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Recall of class 1 for binary labels, else the macro average over classes."""
    return float(np.mean(_precision_recall(y_true, y_pred)[1]))


def f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """F1 of class 1 for binary labels, else the macro average of per-class F1."""
    p, r = _precision_recall(y_true, y_pred)
    denom = p + r
    return float(np.mean(np.divide(2 * p * r, denom, out=np.zeros_like(p), where=denom > 0)))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]
    ends = np.r_[starts[1:], len(x)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return ranks


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise InvalidInputError("auc is undefined when y_true holds only one class.")
    ranks = _average_ranks(score.astype(np.float64))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Area under the ROC curve: binary, or macro one-vs-rest over the score columns."""
    y_pred = np.asarray(y_pred)
    t = _class_ids(y_true, scores=False)
    if y_pred.ndim >= 2 and y_pred.shape[-1] > 1:
        scores = y_pred.reshape(-1, y_pred.shape[-1])
        if scores.shape[1] == 2:
            return _binary_auc(t == 1, scores[:, 1])
        return float(np.mean([_binary_auc(t == c, scores[:, c]) for c in range(scores.shape[1])]))
    return _binary_auc(t == 1, y_pred.reshape(-1))


def _regression(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if p.shape != t.shape and p.size == t.size:
        p = p.reshape(t.shape)
    return t, p


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared error."""
    t, p = _regression(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root of the mean squared error."""
    return float(np.sqrt(mse(y_true, y_pred)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error."""
    t, p = _regression(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination, averaged uniformly over output columns."""
    t, p = _regression(y_true, y_pred)
    t2, p2 = t.reshape(len(t), -1), p.reshape(len(p), -1)
    ss_res = ((t2 - p2) ** 2).sum(axis=0)
    ss_tot = ((t2 - t2.mean(axis=0)) ** 2).sum(axis=0)
    scores = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1),
                      np.where(ss_res > 0, 0.0, 1.0))
    return float(np.mean(scores))


def msle(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared logarithmic error; values must be greater than -1."""
    t, p = _regression(y_true, y_pred)
    return float(np.mean((np.log1p(t) - np.log1p(p)) ** 2))


def mape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute percentage error as a fraction (scikit-learn's definition)."""
    t, p = _regression(y_true, y_pred)
    return float(np.mean(np.abs(t - p) / np.maximum(np.abs(t), _EPS)))


def smape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Symmetric mean absolute percentage error in percent: mean(200 |t-p| / (|t|+|p|))."""
    t, p = _regression(y_true, y_pred)
    denom = np.abs(t) + np.abs(p)
    ratio = np.divide(np.abs(t - p), denom, out=np.zeros_like(t), where=denom > 0)
    return float(200.0 * np.mean(ratio))


def mspe(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared percentage error in percent: mean(((t-p)/t)²) * 100."""
    t, p = _regression(y_true, y_pred)
    return float(100.0 * np.mean(((t - p) / np.maximum(np.abs(t), _EPS)) ** 2))


#: Built-in metric name -> (function or None for the model's loss, mode).
BUILTIN_METRICS: dict[str, tuple[MetricFn | None, str]] = {
    "accuracy": (accuracy, "max"),
    "auc": (auc, "max"),
    "precision": (precision, "max"),
    "recall": (recall, "max"),
    "f1": (f1, "max"),
    "r2": (r2, "max"),
    "mse": (mse, "min"),
    "rmse": (rmse, "min"),
    "mae": (mae, "min"),
    "msle": (msle, "min"),
    "mape": (mape, "min"),
    "smape": (smape, "min"),
    "mspe": (mspe, "min"),
    "loss": (None, "min"),
    "mean_loss": (None, "min"),
}

MODES = ("min", "max")


@dataclass(frozen=True)
class MetricSpec:
    """A resolved metric.

    Attributes:
        name: The name results are reported under.
        mode: ``"min"`` or ``"max"``.
        fn: ``f(y_true, y_pred) -> float`` computed by zoo_tune, or ``None`` when the value
            comes from the model itself (its loss, or a Keras compiled metric).
        source: ``"builtin"``, ``"callable"``, ``"loss"`` or ``"framework"`` (a metric the
            model reports itself, e.g. a Keras compiled metric).
    """

    name: str
    mode: str
    fn: MetricFn | None
    source: str


def check_mode(metric_mode: str | None) -> None:
    """Raise unless ``metric_mode`` is ``None``, ``"min"`` or ``"max"``."""
    # ``in`` only for strings: an array or other odd value must not be compared element-wise.
    if metric_mode is not None and not (isinstance(metric_mode, str) and metric_mode in MODES):
        raise InvalidInputError(f"`metric_mode` must be one of {list(MODES)} or None, but got "
                                f"{metric_mode!r}.{did_you_mean(metric_mode, MODES)}")


def resolve_metric(metric: str | MetricFn | None, metric_mode: str | None = None) -> MetricSpec:
    """Turn the user's ``metric`` and ``metric_mode`` into a :class:`MetricSpec`.

    ``None`` means ``"loss"``. A built-in name brings its own mode; any other name is taken as
    a metric the model reports itself (a Keras compiled metric) and needs ``metric_mode``.
    A callable ``f(y_true, y_pred) -> float`` is named by its ``__name__`` and needs
    ``metric_mode``.

    Raises:
        InvalidInputError: unknown name without a mode, callable without a mode, a mode that
            contradicts a built-in metric's direction, or a mode other than min/max.
        InvalidTypeError: ``metric`` is neither a string nor a callable.
    """
    check_mode(metric_mode)
    if metric is None:
        metric = "loss"
    if callable(metric):
        name = getattr(metric, "__name__", None) or type(metric).__name__
        if metric_mode is None:
            raise InvalidInputError(f"A callable `metric` ({name}) needs `metric_mode`: pass "
                                    f"metric_mode='min' or metric_mode='max'.")
        return MetricSpec(name, metric_mode, metric, "callable")
    if not isinstance(metric, str):
        raise InvalidTypeError(f"`metric` must be a metric name, a callable f(y_true, y_pred) -> "
                               f"float, or None, but got {metric!r} of type "
                               f"{type(metric).__name__}.")
    if metric in BUILTIN_METRICS:
        fn, mode = BUILTIN_METRICS[metric]
        if metric_mode is not None and metric_mode != mode:
            raise InvalidInputError(f"Built-in metric {metric!r} is optimised with mode "
                                    f"{mode!r}, but metric_mode={metric_mode!r} was given; drop "
                                    f"`metric_mode` or pass {mode!r}.")
        return MetricSpec(metric, mode, fn, "loss" if fn is None else "builtin")
    if metric_mode is None:
        raise InvalidInputError(
            f"Unknown metric {metric!r} and no `metric_mode` to say its direction. Built-in "
            f"metrics: {sorted(BUILTIN_METRICS)}.{did_you_mean(metric, BUILTIN_METRICS)} For a "
            f"metric compiled into a Keras model, pass metric_mode='min' or 'max'.")
    return MetricSpec(metric, metric_mode, None, "framework")
