"""MLflow tracking of a fit: one parent run, a child run per trial, the best model.

``fit(..., mlflow_uri="http://127.0.0.1:5000")`` turns it on (``MLFLOW_TRACKING_URI`` alone
does not); ``zoo-tune results <uri> --mlflow URI`` logs a stored experiment after the fact.

Example:
    >>> est.fit(data, ..., mlflow_uri="sqlite:///mlflow.db")  # doctest: +SKIP
"""

from zoo_tune.tracking._callback import MlflowCallback
from zoo_tune.tracking._check import TRACKING_SCHEMES, check_tracking
from zoo_tune.tracking._layout import child_params, epoch_metrics, parent_params, run_status
from zoo_tune.tracking._log import log_experiment, start_tracker
from zoo_tune.tracking._model import save_model
from zoo_tune.tracking._server import MlflowServer
from zoo_tune.tracking._tracker import IDS_FILE, Tracker

__all__ = ["IDS_FILE", "MlflowCallback", "MlflowServer", "TRACKING_SCHEMES", "Tracker",
           "check_tracking", "child_params", "epoch_metrics", "log_experiment",
           "parent_params", "run_status", "save_model", "start_tracker"]
