"""The default experiment's XGBoost trial written as a user's training function.

``benchmarks/overhead.py --objective function`` searches it through ``objective.function``:
the same data, space and XGBoost fit as the built-in family, so the ratio measures what a
function objective's bookkeeping costs.
"""

from __future__ import annotations

from sklearn.metrics import log_loss
from xgboost import XGBClassifier

FIXED = {"n_estimators": 200, "tree_method": "hist", "verbosity": 0, "n_jobs": 1, "random_state": 0}


def fit(params: dict, trial) -> dict:
    X_train, y_train, X_val, y_val = trial.train_and_validation()
    model = XGBClassifier(**FIXED, **params).fit(X_train, y_train)
    return {"loss": log_loss(y_val, model.predict_proba(X_val)), "model": model}
