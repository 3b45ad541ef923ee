"""The project's ``train`` entry point: one gradient-boosting fit on scikit-learn's diabetes data.

MLflow's hyperparameter-search pattern: ``hpo search experiments/entry_point_diabetes.yaml`` runs
this entry point as every trial (the sampled params as its ``-P`` parameters), inside the trial's
child run, and reads back the ``val_rmse`` it logs; the model it logs is the trial's model.
On its own: ``mlflow run . -e train --env-manager local -P learning_rate=0.05``.
"""

from __future__ import annotations

import argparse

import mlflow
import mlflow.sklearn
import numpy as np
import sklearn
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--max-depth", type=float, default=3)  # MLproject passes numbers as floats
    parser.add_argument("--n-estimators", type=float, default=100)
    args = parser.parse_args()
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0)
    with mlflow.start_run():  # the trial's run under `hpo search`, a new run on its own
        model = GradientBoostingRegressor(
            learning_rate=args.learning_rate,
            max_depth=int(args.max_depth),
            n_estimators=int(args.n_estimators),
            random_state=0,
        ).fit(X_train, y_train)
        for stage, predicted in enumerate(model.staged_predict(X_val), start=1):
            if stage % 25 == 0:  # a learning curve
                rmse = float(np.sqrt(mean_squared_error(y_val, predicted)))
                mlflow.log_metric("val_rmse_curve", rmse, step=stage)
        mlflow.log_metric("val_rmse", float(np.sqrt(mean_squared_error(y_val, model.predict(X_val)))))
        signature = mlflow.models.infer_signature(X_val, model.predict(X_val))
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            pip_requirements=[f"scikit-learn=={sklearn.__version__}", "cloudpickle"],
            serialization_format="cloudpickle",  # skops would need the tree types trusted one by one
        )


if __name__ == "__main__":
    main()
