"""Given points as hyperopt proposals: evaluate a list of points first, then hand over."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hpo_plugin.hyperopt_protocol import trial_doc

Suggest = Callable[..., list[dict[str, Any]]]


def propose(new_ids, domain, trials, points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """hyperopt trial documents proposing ``points`` (``vals`` form: label -> value)."""
    return [
        trial_doc(trials, tid, vals, domain.params, domain.new_result(), domain.cmd, domain.workdir)
        for tid, vals in zip(new_ids, points, strict=False)
    ]


@dataclass
class StartFrom:
    """Evaluate given points first (hyperopt's ``points_to_evaluate``), then hand over."""

    points: list[dict[str, Any]]
    then: Suggest

    def suggest(self, new_ids, domain, trials, seed) -> list[dict[str, Any]]:
        done = len(trials.trials)
        if done >= len(self.points):
            return self.then(new_ids, domain, trials, seed)
        return propose(new_ids, domain, trials, self.points[done : done + len(new_ids)])
