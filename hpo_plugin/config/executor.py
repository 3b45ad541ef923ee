"""``executor``: where trials run, and how many at once."""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, model_validator

from hpo_plugin.config.base import Frozen


class ExecutorConfig(Frozen):
    """Where trials run: ``executor: local`` is short for ``executor: {name: local}``.

    ``name`` is checked against :data:`hpo_plugin.executors.EXECUTORS` where the search picks its
    executor (``search/prepare.py``, before any run): the executors sit above the definitions."""

    name: str = "sequential"
    parallelism: int | None = Field(None, ge=1, le=4096)
    spark_master: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _fits_executor(self) -> ExecutorConfig:
        if self.name == "sequential" and (self.parallelism or 1) > 1:
            raise ValueError("parallelism above 1 needs executor 'local' or 'spark'")
        if self.spark_master is not None and self.name != "spark":
            raise ValueError(f"'spark_master' applies to executor 'spark', not {self.name!r}; remove it")
        return self

    @property
    def workers(self) -> int:
        """Trials in flight at once."""
        if self.name == "sequential":
            return 1
        if self.parallelism:
            return self.parallelism
        if self.name == "spark" and (cores := local_master_cores(self.master)):
            return cores
        return os.cpu_count() or 1

    @property
    def master(self) -> str:
        return self.spark_master or f"local[{self.parallelism or '*'}]"


def executor_mapping(value: Any) -> Any:
    """``executor: local`` is short for ``executor: {name: local}``."""
    return {"name": value} if isinstance(value, str) else value


def local_master_cores(master: str) -> int | None:
    """N of a ``local[N]`` Spark master (cores of this machine for ``local[*]``), else None."""
    if master == "local":
        return 1
    if master.startswith("local[") and master.endswith("]"):
        inner = master[6:-1].split(",")[0]
        return os.cpu_count() or 1 if inner == "*" else int(inner) if inner.isdigit() else None
    return None
