"""Search spaces: YAML mappings <-> hyperopt expressions, and sampled points -> model params.

A space is a tuple of :class:`Param`. Each YAML entry names one distribution in compact form,
``{loguniform: [0.01, 0.3]}``; bounds are always in the parameter's own units (hyperopt's
log-space bounds are derived here). A ``choice`` option may be a plain value or a branch
``{value: v, space: {...}}`` whose sub-space is only sampled when that option is chosen.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from hyperopt import hp, space_eval
from hyperopt.pyll import scope

from hpo_plugin.errors import SpaceError


@dataclass(frozen=True)
class Distribution:
    """How one kind of distribution is written in YAML and built for hyperopt."""

    args: tuple[str, ...]
    build: Callable[[str, tuple[float, ...]], Any]
    check: Callable[[tuple[float, ...]], str | None]
    grid: Callable[[tuple[float, ...]], list[float | int]] | None = None
    quantized: bool = False
    log_scale: bool = False  # drawn on a log axis in the report


def log_scaled(description: str) -> bool:
    """Whether a param described as :meth:`Param.describe` writes it (``loguniform(...)``) is
    searched on a log scale."""
    kind = DISTRIBUTIONS.get(description.split("(", 1)[0])
    return kind is not None and kind.log_scale


def _ordered(a: tuple[float, ...]) -> str | None:
    return None if a[0] < a[1] else f"low ({a[0]}) must be below high ({a[1]})"


def _positive_ordered(a: tuple[float, ...]) -> str | None:
    if a[0] <= 0:
        return f"low ({a[0]}) must be > 0 for a log scale"
    return _ordered(a)


def _quantized(check: Callable[[tuple[float, ...]], str | None]):
    def inner(a: tuple[float, ...]) -> str | None:
        return f"q ({a[2]}) must be > 0" if a[2] <= 0 else check(a)

    return inner


def _positive_sigma(a: tuple[float, ...]) -> str | None:
    return None if a[1] > 0 else f"sigma ({a[1]}) must be > 0"


def _q_grid(a: tuple[float, ...]) -> list[float]:
    low, high, q = a
    start, stop = round(low / q), round(high / q)
    return [float(k * q) for k in range(int(start), int(stop) + 1)]


def _with_q(base: Distribution, build: Callable[[str, tuple[float, ...]], Any]) -> Distribution:
    """The quantized kind of ``base``: its arguments and ``q``, values rounded to multiples of q
    (a grid of them where ``base`` is bounded)."""
    bounded = base.args == ("low", "high")
    return replace(
        base,
        args=(*base.args, "q"),
        build=build,
        check=_quantized(base.check),
        grid=_q_grid if bounded else None,
        quantized=True,
    )


_UNIFORM = Distribution(("low", "high"), lambda lb, a: hp.uniform(lb, *a), _ordered)
_LOGUNIFORM = Distribution(
    ("low", "high"),
    lambda lb, a: hp.loguniform(lb, math.log(a[0]), math.log(a[1])),
    _positive_ordered,
    log_scale=True,
)
_NORMAL = Distribution(("mu", "sigma"), lambda lb, a: hp.normal(lb, *a), _positive_sigma)
_LOGNORMAL = Distribution(
    ("mu", "sigma"), lambda lb, a: hp.lognormal(lb, *a), _positive_sigma, log_scale=True
)

DISTRIBUTIONS: dict[str, Distribution] = {
    "uniform": _UNIFORM,
    "loguniform": _LOGUNIFORM,
    "quniform": _with_q(_UNIFORM, lambda lb, a: hp.quniform(lb, *a)),
    "qloguniform": _with_q(
        _LOGUNIFORM, lambda lb, a: hp.qloguniform(lb, math.log(a[0]), math.log(a[1]), a[2])
    ),
    "normal": _NORMAL,
    "qnormal": _with_q(_NORMAL, lambda lb, a: hp.qnormal(lb, *a)),
    "lognormal": _LOGNORMAL,
    "qlognormal": _with_q(_LOGNORMAL, lambda lb, a: hp.qlognormal(lb, *a)),
    "randint": Distribution(
        ("low", "high"),
        lambda lb, a: hp.randint(lb, int(a[0]), int(a[1])),
        _ordered,
        grid=lambda a: list(range(int(a[0]), int(a[1]))),
        quantized=True,
    ),
}
CHOICE = "choice"
# Unbounded: drawn around mu with spread sigma (the lognormal ones on a log axis, in log units).
GAUSSIAN = frozenset({"normal", "qnormal", "lognormal", "qlognormal"})
KINDS = (*sorted(DISTRIBUTIONS), CHOICE)


@dataclass(frozen=True)
class Option:
    """One option of a choice; ``space`` is sampled only when this option is chosen."""

    value: Any
    space: tuple[Param, ...] = ()


@dataclass(frozen=True)
class Param:
    """One searched parameter. ``label`` is unique across the whole space (hyperopt needs that).

    ``args`` are the distribution's arguments in the parameter's own units (a choice's: the
    options' probabilities, or empty for equally likely options).
    """

    name: str
    label: str
    kind: str
    args: tuple[float, ...] = ()
    is_int: bool = False
    options: tuple[Option, ...] = field(default=())

    def describe(self) -> str:
        """Human-readable form, used as the parent run's ``space.<name>`` param."""
        if self.kind == CHOICE and self.args:  # hyperopt's pchoice: options with probabilities
            weighted = (f"{w:g}:{o.value}" for w, o in zip(self.args, self.options, strict=True))
            return f"pchoice({', '.join(weighted)})"
        if self.kind == CHOICE:
            return f"choice({', '.join(str(o.value) for o in self.options)})"
        args = ", ".join(f"{a:g}" for a in self.args)
        return f"{self.kind}({args}){' int' if self.is_int else ''}"


def parse_space(raw: Any, prefix: str = "") -> tuple[Param, ...]:
    """Validate a YAML ``space`` mapping into Params; raise SpaceError naming the key."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise SpaceError(f"{prefix or 'space'}: must be a mapping of parameter name to distribution")
    return tuple(_parse_param(str(name), spec, prefix) for name, spec in raw.items())


def _parse_param(name: str, spec: Any, prefix: str) -> Param:
    label = f"{prefix}{name}"
    if not isinstance(spec, Mapping):
        raise SpaceError(
            f"{label}: expected a distribution such as {{uniform: [0, 1]}}, got {spec!r}; "
            "fixed values belong in the model's 'params'"
        )
    kinds = [k for k in spec if k != "type"]
    if len(kinds) != 1 or kinds[0] not in KINDS:
        raise SpaceError(
            f"{label}: give exactly one distribution out of {', '.join(KINDS)} "
            f"(plus optional 'type: int|float'); got keys {sorted(map(str, spec))}"
        )
    kind = kinds[0]
    value_type = spec.get("type")
    if value_type not in (None, "int", "float"):
        raise SpaceError(f"{label}.type: must be 'int' or 'float', got {value_type!r}")
    if kind == CHOICE:
        if value_type is not None:
            raise SpaceError(f"{label}.type: a choice keeps its options' own types; remove 'type'")
        return Param(name, label, CHOICE, options=_parse_options(label, spec[CHOICE]))
    dist = DISTRIBUTIONS[kind]
    values = spec[kind]
    if (
        not isinstance(values, list)
        or len(values) != len(dist.args)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    ):
        raise SpaceError(
            f"{label}.{kind}: expected [{', '.join(dist.args)}] as {len(dist.args)} numbers, got {values!r}"
        )
    args = tuple(float(v) for v in values)
    if problem := dist.check(args):
        raise SpaceError(f"{label}.{kind}: {problem}")
    # Quantized draws with whole-number arguments are integers unless the user says otherwise.
    whole = dist.quantized and all(float(v).is_integer() for v in values)
    is_int = value_type == "int" or (value_type is None and (kind == "randint" or whole))
    return Param(name, label, kind, args, is_int)


def _parse_options(label: str, raw: Any) -> tuple[Option, ...]:
    if not isinstance(raw, list) or not raw:
        raise SpaceError(f"{label}.choice: expected a non-empty list of options, got {raw!r}")
    options = []
    for i, item in enumerate(raw):
        if isinstance(item, Mapping):
            extra = set(item) - {"value", "space"}
            if "value" not in item or extra:
                raise SpaceError(
                    f"{label}.choice[{i}]: a branch is {{value: ..., space: {{...}}}}; "
                    f"got keys {sorted(map(str, item))}"
                )
            sub = parse_space(item.get("space"), prefix=f"{label}={item['value']}/")
            options.append(Option(item["value"], sub))
        else:
            options.append(Option(item))
    values = [repr(o.value) for o in options]
    if len(set(values)) != len(values):
        raise SpaceError(f"{label}.choice: options must be distinct, got {values}")
    return tuple(options)


def relabel(space: tuple[Param, ...], prefix: str) -> tuple[Param, ...]:
    """The same space with every hyperopt label prefixed (to nest it under a choice)."""
    return tuple(
        replace(
            p,
            label=prefix + p.label,
            options=tuple(Option(o.value, relabel(o.space, prefix)) for o in p.options),
        )
        for p in space
    )


def to_hyperopt(space: tuple[Param, ...]) -> dict[str, Any]:
    """Build the hyperopt search space: a dict evaluated by fmin into a nested point."""
    return {p.name: _expr(p) for p in space}


def _expr(p: Param) -> Any:
    if p.kind == CHOICE:
        return hp.choice(p.label, [{"value": o.value, "space": to_hyperopt(o.space)} for o in p.options])
    expr = DISTRIBUTIONS[p.kind].build(p.label, p.args)
    return scope.int(expr) if p.is_int else expr


def _point(space: tuple[Param, ...], vals: Mapping[str, Any]) -> dict[str, Any]:
    """The point :func:`to_hyperopt`'s expression evaluates to under ``vals`` (its dicts in key
    order, as hyperopt builds them)."""
    point: dict[str, Any] = {}
    for p in sorted(space, key=lambda p: p.name):
        value = vals[p.label]
        if p.kind == CHOICE:
            option = p.options[value]
            point[p.name] = {"space": _point(option.space, vals), "value": _evaluated(option.value)}
        else:
            point[p.name] = int(value) if p.is_int else float(value)
    return point


def _evaluated(value: Any) -> Any:
    """A constant as hyperopt's graph evaluates it: a fresh copy, lists as tuples, dicts in key order."""
    if isinstance(value, list | tuple):
        return tuple(_evaluated(v) for v in value)
    if isinstance(value, dict):
        return {k: _evaluated(v) for k, v in sorted(value.items())}
    return value


def decode(point: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten a point evaluated from :func:`to_hyperopt` into plain model params."""
    params: dict[str, Any] = {}
    for name, value in point.items():
        if isinstance(value, Mapping) and set(value) == {"value", "space"}:
            params[name] = value["value"]
            params.update(decode(value["space"]))
        else:
            params[name] = _plain(value)
    return params


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


@dataclass(frozen=True)
class SearchSpace:
    """What a search explores: the tree the algorithms read, the expression hyperopt evaluates,
    and how an evaluated point becomes a trial's params and its objective's argument.

    A YAML space (``expression`` None) is evaluated from ``params`` and decoded into flat model
    params, which the objective gets. A user's ``hp.*`` space (:mod:`hpo_plugin.hyperopt_space`)
    is evaluated as given; its objective gets the point as hyperopt's ``fmin`` would, and the
    trial logs it flattened (``{"model": {"C": 1}}`` -> ``model.C``).
    """

    params: tuple[Param, ...]
    expression: Any = None
    scalar_name: str = "value"  # the param a point that is one number is logged as

    def hyperopt(self) -> Any:
        """The expression fmin evaluates (a YAML space's is built once, not per trial)."""
        return self._expression

    @functools.cached_property
    def _expression(self) -> Any:
        return to_hyperopt(self.params) if self.expression is None else self.expression

    @functools.cached_property
    def labels(self) -> frozenset[str]:
        """Every hyperopt label of the space, nested branches included."""
        return frozenset(p.label for p in flatten(self.params))

    def point_of(self, vals: Mapping[str, Any]) -> Any:
        """The point of hyperopt's ``vals`` (label -> value), as fmin evaluates it.

        A YAML space's point is read off its params (what ``space_eval`` gives, without
        evaluating hyperopt's graph: a resumed 10,000-trial search rebuilds every point)."""
        if self.expression is None:
            return _point(self.params, vals)
        return space_eval(self.hyperopt(), dict(vals))

    def trial_params(self, point: Any) -> dict[str, Any]:
        """A point (as hyperopt evaluated it) as the params a trial logs."""
        if self.expression is None:
            return decode(point)
        if isinstance(point, Mapping):
            return _flat(point, "")
        if isinstance(point, list | tuple):
            return _flat(dict(enumerate(point)), "")
        return {self.scalar_name: _loggable(point)}

    def argument(self, point: Any) -> tuple[Any, ...]:
        """What the objective is called with when it is not the params: ``(point,)``, or ``()``."""
        return () if self.expression is None else (point,)


def _flat(point: Mapping[Any, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in point.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, f"{name}."))
        elif isinstance(value, list | tuple) and value:
            out.update(_flat(dict(enumerate(value)), f"{name}."))
        else:
            out[name] = _loggable(value)
    return out


def _loggable(value: Any) -> Any:
    """A point's value as a param: a number, text or None as it is; anything else (a class, a
    function, an estimator) as its text, which is what MLflow would log anyway."""
    value = _plain(value)
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def flatten(space: tuple[Param, ...]) -> Iterator[Param]:
    """Every param of a space, nested branches included."""
    for p in space:
        yield p
        for option in p.options:
            yield from flatten(option.space)


def names(space: tuple[Param, ...]) -> set[str]:
    """Every parameter name a point of this space can produce (all branches)."""
    out: set[str] = set()
    for p in space:
        out.add(p.name)
        for o in p.options:
            out |= names(o.space)
    return out


def grid_points(space: tuple[Param, ...]) -> list[dict[str, Any]]:
    """Every point of a finite space as hyperopt ``vals`` (choice -> option index).

    Raises SpaceError naming the first parameter that is not a choice or quantized.
    """
    per_param = [_param_grid(p) for p in space]
    points = []
    for combo in itertools.product(*per_param):
        merged: dict[str, Any] = {}
        for part in combo:
            merged.update(part)
        points.append(merged)
    return points


def _param_grid(p: Param) -> list[dict[str, Any]]:
    if p.kind == CHOICE:
        return [
            {p.label: i, **sub} for i, option in enumerate(p.options) for sub in grid_points(option.space)
        ]
    grid = DISTRIBUTIONS[p.kind].grid
    if grid is None:
        raise SpaceError(
            f"{p.label}: grid search needs only 'choice' and quantized distributions "
            f"(quniform, qloguniform, randint); '{p.kind}' is continuous"
        )
    return [{p.label: v} for v in grid(p.args)]
