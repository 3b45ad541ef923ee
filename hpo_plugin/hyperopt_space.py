"""A user's ``hp.*`` space as the tree our algorithms and records read.

hyperopt builds a space as a pyll graph: each ``hp.*`` call is a ``hyperopt_param(label,
distribution)`` node, a choice is a ``switch`` on one of them, and everything else (dicts,
lists, constants, ``scope.int``, arithmetic) is evaluated around them. The searched parameters
are those nodes; a parameter under a switch's option is only active when that option is
chosen. hyperopt's own ``expr_to_config`` finds the same nodes, but fails on ``pchoice`` in
0.3.0, so this walk is ours (about as long).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hyperopt.pyll import Apply, as_apply

from hpo_plugin.errors import SpaceError
from hpo_plugin.space import CHOICE, DISTRIBUTIONS, Option, Param, SearchSpace

# hyperopt's distribution nodes (our kinds of the same names) and their arguments' names;
# log-uniform bounds are in log units there, in the parameter's own units here.
_ARGUMENTS = {
    "uniform": ("low", "high"),
    "quniform": ("low", "high", "q"),
    "loguniform": ("low", "high"),
    "qloguniform": ("low", "high", "q"),
    "normal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"),
    "qlognormal": ("mu", "sigma", "q"),
}
_NATURAL_UNITS = {"loguniform", "qloguniform"}  # bounds given as logs, kept as values
_PASS_THROUGH = {"float", "int"}  # wrappers between a value and its hyperopt_param


def is_hyperopt_space(raw: Any) -> bool:
    """Whether ``raw`` is (or holds, in dicts, lists and tuples) an ``hp.*`` expression."""
    if isinstance(raw, Apply):
        return True
    if isinstance(raw, Mapping):
        return any(is_hyperopt_space(v) for v in raw.values())
    if isinstance(raw, list | tuple):
        return any(is_hyperopt_space(v) for v in raw)
    return False


def from_hyperopt(expression: Any) -> SearchSpace:
    """The space of an ``hp.*`` expression; SpaceError names a parameter we cannot model."""
    root: list[Param] = []
    top = as_apply(expression)
    _walk(top, root, set(), is_int=False)
    if not root:
        raise SpaceError("space: it has no hp.* parameter to search; add one such as hp.uniform('x', 0, 1)")
    while top.name in _PASS_THROUGH:  # hp.uniform("x", ...) alone: its value is logged as x
        top = top.pos_args[0]
    scalar = top.arg["label"].obj if top.name == "hyperopt_param" else "value"
    return SearchSpace(tuple(root), expression, scalar)


def _walk(node: Apply, into: list[Param], seen: set[str], is_int: bool) -> None:
    if node.name == "switch":
        index = node.pos_args[0]
        label = index.arg["label"].obj
        options = []
        for i, option in enumerate(node.pos_args[1:]):
            inner: list[Param] = []
            # Each branch has its own view: a label two branches share is a param of both.
            _walk(option, inner, set(seen) | {label}, is_int=False)
            options.append(Option(_describe(option, i), tuple(inner)))
        if label not in seen:
            seen.add(label)
            weights = _probabilities(index.arg["obj"], label)
            into.append(Param(label, label, CHOICE, weights, options=tuple(options)))
        return
    if node.name == "hyperopt_param":
        label = node.arg["label"].obj
        if label not in seen:
            seen.add(label)
            into.append(_param(label, node.arg["obj"], is_int))
        return
    wraps_int = node.name == "int" or (is_int and node.name in _PASS_THROUGH)
    for child in node.inputs():
        _walk(child, into, seen, is_int=wraps_int)


def _param(label: str, dist: Apply, is_int: bool) -> Param:
    if dist.name == "randint":
        low, high = float(_constant(dist.arg["low"], label)), dist.arg["high"]
        bounds = (low, float(_constant(high, label))) if isinstance(high, Apply) else (0.0, low)
        return Param(label, label, "randint", bounds, is_int=True)
    kind = dist.name
    if kind not in _ARGUMENTS:
        raise SpaceError(f"{label}: hp.{kind} is not a distribution this search can model")
    args = tuple(float(_constant(dist.arg[name], label)) for name in _ARGUMENTS[kind])
    if kind in _NATURAL_UNITS:
        args = (math.exp(args[0]), math.exp(args[1]), *args[2:])
    if problem := DISTRIBUTIONS[kind].check(args):
        raise SpaceError(f"{label}: {problem}")
    return Param(label, label, kind, args, is_int)


def _probabilities(dist: Apply, label: str) -> tuple[float, ...]:
    """A pchoice's option probabilities (hyperopt's ``categorical``); () for hp.choice."""
    if dist.name != "categorical":
        return ()
    p = dist.arg["p"]
    values = [_constant(v, label) for v in p.pos_args] if p.name == "pos_args" else _constant(p, label)
    return tuple(float(v) for v in values)


def _constant(node: Any, label: str) -> Any:
    if isinstance(node, Apply) and node.name == "literal":
        return node.obj
    if not isinstance(node, Apply):
        return node
    raise SpaceError(f"{label}: its arguments must be constants (got an expression: {node.name})")


def _describe(option: Apply, index: int) -> Any:
    """A choice option as the parent run's ``space.<label>`` param shows it."""
    if option.name == "literal":
        obj = option.obj
        plain = obj is None or isinstance(obj, bool | int | float | str)
        return obj if plain else getattr(obj, "__name__", None) or type(obj).__name__
    if option.name == "dict":
        keys = [name for name, _ in option.named_args]
        return "{" + ", ".join(keys) + "}"
    return f"<option {index}>"
