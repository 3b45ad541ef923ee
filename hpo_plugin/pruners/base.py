"""The exception that ends a pruned trial (the pruner protocol is with the board it reads)."""

from __future__ import annotations


class TrialPruned(Exception):
    """Raise it in a trial when ``trial.should_prune()`` says so: the trial stops, recorded as pruned."""
