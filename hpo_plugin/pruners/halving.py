"""Successive halving (Optuna's ``SuccessiveHalvingPruner``, the asynchronous rule of ASHA):
at each rung, only the best 1/``reduction_factor`` of the trials that reached it go on."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpo_plugin.pruners.board import Board


@dataclass(frozen=True)
class SuccessiveHalvingPruner:
    """Rung ``r`` is at step ``min_resource * reduction_factor ** (min_early_stopping_rate + r)``.

    ``min_resource: auto`` waits for the first finished trial and takes 1/100 of its last step
    (Optuna's estimate).
    With no more than ``bootstrap_count`` trials at a rung, a trial stops there.
    """

    min_resource: int | str = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0

    def rung_step(self, board: Board, rung: int) -> int | None:
        resource = self.min_resource if isinstance(self.min_resource, int) else _estimate(board)
        if resource is None:
            return None
        return resource * self.reduction_factor ** (self.min_early_stopping_rate + rung)

    def prune(self, board: Board, number: int, step: int) -> bool:
        own = board.steps[number]
        value = own[step]
        earlier = max((s for s in own if s != step), default=-1)
        rung = 0
        while (rung_at := self.rung_step(board, rung)) is not None and earlier >= rung_at:
            rung += 1  # rungs this trial passed at earlier reports
        while True:
            rung_at = self.rung_step(board, rung)
            if rung_at is None or step < rung_at:
                return False
            if math.isnan(value):
                return True
            competing = [
                v
                for n in board.steps
                if n != number and (v := board.first_at_or_after(n, rung_at)) is not None
            ]
            competing.append(value)
            if len(competing) <= self.bootstrap_count or not _promotable(
                value, competing, self.reduction_factor
            ):
                return True
            rung += 1


def _estimate(board: Board) -> int | None:
    """1/100 of the last step of the first trial that finished with steps (fixed from then on)."""
    first = next((n for n in board.completed if board.steps.get(n)), None)
    return None if first is None else max(max(board.steps[first]) // 100, 1)


def _promotable(value: float, competing: list[float], reduction_factor: int) -> bool:
    """Among the best ``len(competing) // reduction_factor`` (the best one, while that is 0)."""
    index = max(len(competing) // reduction_factor - 1, 0)
    return value <= sorted(competing)[index]
