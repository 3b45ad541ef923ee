"""A plain hyperopt + MLflow script, brought over by changing two lines (marked below).

Run it: ``python experiments/hyperopt_script.py`` (MLflow's usual settings: MLFLOW_TRACKING_URI,
else ./mlflow.db). Continue the same search to a larger budget from another process:
``python experiments/hyperopt_script.py --resume <parent run id> --max-evals 30``.
"""

import argparse

import mlflow
from hyperopt import STATUS_OK, hp, space_eval
from hyperopt.pyll import scope
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from hpo_plugin import MlflowTrials, fmin  # was: from hyperopt import Trials, fmin, tpe

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0)

space = {
    "n_estimators": scope.int(hp.quniform("n_estimators", 20, 120, 10)),
    "max_depth": hp.choice("max_depth", [None, 4, 8]),
    "max_features": hp.choice("max_features", ["sqrt", "log2", None]),
    "min_samples_leaf": hp.loguniform("min_samples_leaf", -5, -2),
}


def objective(params):
    with mlflow.start_run(nested=True):
        mlflow.log_params(params)
        model = RandomForestClassifier(**params, n_jobs=1, random_state=0).fit(X_train, y_train)
        loss = log_loss(y_val, model.predict_proba(X_val))
        mlflow.log_metric("val_log_loss", loss)
        mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle")
    return {"loss": loss, "status": STATUS_OK, "train_rows": len(X_train)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-evals", type=int, default=12)
    parser.add_argument("--resume", default=None, help="parent run id of the search to continue")
    args = parser.parse_args()
    best = fmin(
        objective,
        space,
        max_evals=args.max_evals,
        # was: algo=tpe.suggest, trials=Trials()
        trials=MlflowTrials(parallelism=2, register="hyperopt-script-rf", resume=args.resume),
        show_progressbar=False,
    )
    print("best:", space_eval(space, best))
