"""Model objects and their MLflow flavors: everything that knows what a fitted model is.

- :mod:`.families`: the built-in families (registry :data:`MODEL_FAMILIES`, estimators by
  import path, imported on use) and any scikit-learn estimator as a family of its own;
- :mod:`.pipelines`: a family's model with its preprocessing, ``fit`` arguments, early stopping,
  the MLflow flavor that logs it (:func:`flavor_of`);
- :mod:`.startpoints`: each family's library defaults as the first trials of gp and tuned TPE;
- :mod:`.files`: a fitted model's data file, written without MLflow (worker processes);
- :mod:`.logged`: LoggedModels from per-kind templates, signatures of the user's columns;
- :mod:`.served`: the pyfunc model serving answers in the user's labels and dtypes.

Below the objectives (which build and fit models) and MLflow I/O (which logs them); nothing is
imported here, so a worker imports :mod:`.files` without MLflow.
"""
