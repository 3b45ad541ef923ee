"""A training function for ``experiments/function_breast_cancer.yaml``: your own code as the trial.

``objective(params, trial)`` is hyperopt's protocol plus a trial handle: it returns the loss
(or hyperopt's result dict) and logs through ``trial`` into this trial's child run.
"""

from __future__ import annotations

from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, log_loss


def objective(params: dict, trial) -> dict:
    X_train, y_train, X_val, y_val = trial.train_and_validation()  # the experiment's data:
    model = GradientBoostingClassifier(
        n_estimators=params["n_estimators"],
        learning_rate=params["learning_rate"],
        max_depth=params["max_depth"],
        subsample=params["subsample"],
        random_state=0,
    ).fit(X_train, y_train)
    # A learning curve: one point every 10 boosting stages, drawn per trial in the MLflow UI.
    for stage, proba in enumerate(model.staged_predict_proba(X_val), start=1):
        if stage % 10 == 0:
            trial.log_metric("val_log_loss", log_loss(y_val, proba), step=stage)
    accuracy = accuracy_score(y_val, model.predict(X_val))
    return {"loss": log_loss(y_val, model.predict_proba(X_val)), "val_accuracy": accuracy, "model": model}
