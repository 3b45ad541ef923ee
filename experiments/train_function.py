"""Training functions for ``experiments/function_breast_cancer.yaml`` and
``experiments/function_pruning_breast_cancer.yaml``: your own code as the trial.

``objective(params, trial)`` is hyperopt's protocol plus a trial handle: it returns the loss
(or hyperopt's result dict) and logs through ``trial`` into this trial's child run.
``by_epoch(params, trial)`` reports its validation loss after every epoch, and stops when the
search's pruner says so.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from hpo_plugin import TrialPruned

EPOCHS = 40


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


def by_epoch(params: dict, trial) -> dict:
    """A small neural network trained one epoch at a time; each epoch's validation log loss is
    reported, so a hopeless configuration stops after a few epochs instead of forty."""
    X_train, y_train, X_val, y_val = trial.train_and_validation()
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)
    network = MLPClassifier(
        hidden_layer_sizes=(params["width"],),
        alpha=params["alpha"],
        learning_rate_init=params["learning_rate_init"],
        random_state=0,
    )
    classes = np.unique(y_train)
    for epoch in range(1, EPOCHS + 1):
        network.partial_fit(X_train, y_train, classes=classes)
        loss = log_loss(y_val, network.predict_proba(X_val), labels=classes)
        trial.report(epoch, loss)  # logged as the trial's `value` curve, and judged by the pruner
        if trial.should_prune():
            raise TrialPruned()
    return {"loss": loss, "model": Pipeline([("scale", scaler), ("network", network)])}
