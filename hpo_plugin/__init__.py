"""hpo_plugin: Hyperopt searches as first-class MLflow citizens."""

from __future__ import annotations

__version__ = "0.1.0"
