"""hyperopt's trial documents and seed stream: the parts of its protocol we write ourselves.

hyperopt documents the shape of a trial document (``tid``, ``misc.idxs``/``misc.vals``,
``result``, ``state``) for authors of algorithms and Trials backends, but has no public
function that builds the document of a known point, reads a point back from one, or advances
a seed stream the way ``fmin`` does. Those three live here and nowhere else; each was checked
against hyperopt 0.3.0 (pinned ``<0.4`` in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from hyperopt import JOB_STATE_DONE, Trials

# What fmin's Domain stamps on its trials (hyperopt.base.Domain.cmd); resumed and warm-start
# trials carry it too so that hyperopt treats them as its own.
FMIN_CMD = ("domain_attachment", "FMinIter_Domain")
# fmin draws one seed per suggest call as ``rstate.integers(2**31 - 1)`` (hyperopt/fmin.py,
# FMinIter.run): a resumed search replays those draws to continue the same seed stream.
SEED_DRAW = 2**31 - 1


def trial_doc(
    trials: Trials,
    tid: int,
    vals: Mapping[str, Any],
    labels: Iterable[str],
    result: dict[str, Any],
    cmd: Any = FMIN_CMD,
    workdir: str | None = None,
) -> dict[str, Any]:
    """A new trial document for the point ``vals`` (label -> value; absent labels are inactive)."""
    labels = list(labels)
    misc = {
        "tid": tid,
        "cmd": cmd,
        "workdir": workdir,
        "idxs": {label: [tid] if label in vals else [] for label in labels},
        "vals": {label: [vals[label]] if label in vals else [] for label in labels},
    }
    (doc,) = trials.new_trial_docs([tid], [None], [result], [misc])
    return doc


def insert_done(
    trials: Trials,
    vals: Mapping[str, Any],
    result: dict[str, Any],
    labels: Iterable[str],
    workdir: str | None = None,
) -> None:
    """Append a completed trial (a resumed or warm-start one) to ``trials``."""
    # A fresh id (hyperopt's own counter): ``trials.trials`` only grows at the next refresh.
    doc = trial_doc(trials, trials.new_trial_ids(1)[0], vals, labels, result, workdir=workdir)
    doc["state"] = JOB_STATE_DONE
    trials.insert_trial_docs([doc])


def point_vals(misc: Mapping[str, Any]) -> dict[str, Any]:
    """A trial document's point as label -> value, for ``hyperopt.space_eval``."""
    return {label: values[0] for label, values in misc["vals"].items() if len(values)}


def advance_seed_stream(rng: np.random.Generator, suggest_calls: int) -> np.random.Generator:
    """``rng`` past the seeds fmin drew for ``suggest_calls`` proposals."""
    for _ in range(suggest_calls):
        rng.integers(SEED_DRAW)
    return rng
