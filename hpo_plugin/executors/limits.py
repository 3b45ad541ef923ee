"""A trial's limits (``search.trial_timeout``, ``search.trial_memory_mb``) and the one check of
them that the local workers' watcher and a Spark task's watcher share."""

from __future__ import annotations

import time
from typing import NamedTuple

from hpo_plugin.processes import resident_mb

WATCH_S = 0.1  # how often a trial under a memory limit has its process's memory read


class Limits(NamedTuple):
    """What one trial may take: seconds, and its process's resident memory."""

    timeout: float | None = None
    memory_mb: int | None = None

    @classmethod
    def of(cls, search) -> Limits:
        """A search section's ``trial_timeout`` and ``trial_memory_mb``."""
        return cls(search.trial_timeout, search.trial_memory_mb)

    @property
    def any(self) -> bool:
        return self.timeout is not None or self.memory_mb is not None

    def left(self, started: float) -> float | None:
        """Seconds until the next look at a trial begun at ``started`` (None: only its end)."""
        wait = WATCH_S if self.memory_mb is not None else None
        if self.timeout is not None:
            left = max(self.timeout - (time.monotonic() - started), 0.0)
            wait = left if wait is None else min(wait, left)
        return wait

    def past(self, started: float, pid: int) -> str | None:
        """Why a trial begun at ``started``, in process ``pid``, must stop now; None if it may go on."""
        if self.timeout is not None and time.monotonic() - started >= self.timeout:
            return f"timed out after {self.timeout:g} s"
        if self.memory_mb is not None and (used := resident_mb(pid)) > self.memory_mb:
            return f"exceeded its memory limit of {self.memory_mb} MB ({used:.0f} MB in use)"
        return None
