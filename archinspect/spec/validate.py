"""Document -> Spec, collecting every problem with its position before raising once."""

from __future__ import annotations

import math
import re
from typing import Any

from archinspect.errors import MAX_PROBLEMS, Problem, SpecError
from archinspect.families import COMMON, FAMILIES, Family, names
from archinspect.metrics import BUDGET_AMOUNTS, BUDGET_KEYS
from archinspect.spec.document import Document, join
from archinspect.spec.kinds import Issue
from archinspect.spec.messages import brief_repr, did_you_mean, one_of, yaml_repr
from archinspect.spec.model import InitSpec, InputSpec, Spec
from archinspect.spec.numbers import amount_problem, parse_amount

TOP_KEYS = ("name", "model", "input", "forward", "init", "sweep", "budget")
INIT_KEYS = ("w_std", "b_std", "parameterization")
PARAMETERIZATIONS = ("standard", "ntk")
# `forward:` switches (README "forward:"); every other key is a keyword argument of __call__.
FORWARD_SWITCHES = ("key", "inference", "state")
_KEYWORD = re.compile(r"^[A-Za-z_]\w*$")
INPUT_KEYS = ("resolution", "channels", "batch_size", "dtype", "layout", "shape")
# no_channels: no axis holds features (a scalar index, a sequence of token ids): every axis is
# spatial; analyses see a leading feature axis of one (archinspect.build.adapt).
LAYOUTS = ("channels_first", "channels_last", "no_channels")
BATCH_AXIS = "batch"  # a leading `batch` in input.shape: the model is called with a batch axis
FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")
# Integer inputs (token ids, indices): those JAX has without its 64-bit mode.
INT_DTYPES = ("int32", "int16", "int8", "uint32", "uint16", "uint8")
DTYPES = (*FLOAT_DTYPES, *INT_DTYPES)
DEFAULT_RESOLUTION = 64
SWEEPABLE_INPUT = ("input.resolution", "input.batch_size")
SWEEPABLE_INIT = ("init.w_std", "init.b_std")


class _Collector:
    """The problems found so far; past twice MAX_PROBLEMS only counted (`more`), not worded."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.problems: list[Problem] = list(doc.problems)
        self.more = 0

    @property
    def full(self) -> bool:
        return len(self.problems) >= 2 * MAX_PROBLEMS

    def at(self, path: str, message: str) -> None:
        if self.full:
            self.more += 1
            return
        self.problems.append(Problem(path, message, self.doc.where(path)))

    def at_key(self, path: str, message: str) -> None:
        if self.full:
            self.more += 1
            return
        self.problems.append(Problem(path, message, self.doc.where_key(path)))

    def error(self) -> SpecError:
        return SpecError(self.doc.source, self.problems, self.more)

    def issues(self, path: str, issues: list[Issue]) -> None:
        for issue in issues:
            where = path
            for part in issue.where:
                where = join(where, part)
            (self.at_key if issue.at_key else self.at)(where, issue.message)

    def unknown_keys(self, mapping: dict, parent: str, allowed: tuple[str, ...]) -> None:
        for key in mapping:
            if key not in allowed and self.full:
                self.more += 1  # not worded: "did you mean" costs a string comparison per key
            elif key not in allowed:
                self.at_key(
                    join(parent, key),
                    f"unknown key {key!r}{did_you_mean(key, allowed)} "
                    f"(allowed: {', '.join(allowed)})",
                )


def _whole(data: Any) -> str:
    """What a document that is not a mapping holds, without quoting it: a file that is one
    value may be anything (a token, a password) that a link or a mistake put in its place."""
    if isinstance(data, list):
        return f"a list of {len(data)} item{'s' if len(data) != 1 else ''} (not shown)"
    kinds = {bool: "true/false value", int: "number", float: "number", str: "string"}
    return f"a single {kinds.get(type(data), 'value')} (not shown)"


def validate(doc: Document, default_name: str) -> Spec:
    c = _Collector(doc)
    data = doc.data
    if doc.problems and data is None:
        raise c.error()
    if data is None:
        c.at("", "the spec is empty; it needs at least a `model:` mapping with a `family:`")
        raise c.error()
    if not isinstance(data, dict):
        c.at("", f"a spec must be a mapping with a `model:` key; the file is {_whole(data)}")
        raise c.error()

    c.unknown_keys(data, "", TOP_KEYS)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        c.at("name", f"must be a non-empty string, got {yaml_repr(name)}")
        name = default_name

    target = None
    if isinstance(data.get("model"), dict) and "target" in data["model"]:
        target, args, explicit = _target_model(c, data["model"])
        family = None
    else:
        family, args, explicit = _model(c, data)
    inp = _input(c, data.get("input"), family, args, target)
    forward = _forward(c, data["forward"]) if "forward" in data else {}
    init = _init(c, data["init"]) if "init" in data else InitSpec()
    sweep = _sweep(c, data.get("sweep"), family)
    budget = _budget(c, data.get("budget"), len(inp.resolution) if inp is not None else None)
    if family is not None and family.check_shapes is not None and inp is not None:
        for key, message in family.check_shapes(args, inp.resolution):
            c.at(join("model", key), message)

    if c.problems:
        raise c.error()
    assert (family is not None or target is not None) and inp is not None
    return Spec(
        name=name,
        source=doc.source,
        family=family.name if family is not None else _target_name(target),
        target=target,
        args=args,
        explicit=frozenset(explicit),
        input=inp,
        sweep=sweep,
        budget=budget,
        marks=dict(doc.marks),
        forward=forward,
        init=init,
    )


def _forward(c: _Collector, raw: Any) -> dict[str, Any]:
    """`forward:` -- how the model is called. `key`, `inference` and `state` are switches
    (true/false); any other key is a fixed keyword argument of `__call__` (a YAML scalar or a
    list of them). A key one typo away from a switch is refused with the switch suggested:
    passed on as a keyword argument it would fail far from the spec, or silently do nothing
    for a `__call__` that takes **kwargs."""
    switches = ", ".join(FORWARD_SWITCHES)
    if not isinstance(raw, dict):
        c.at(
            "forward",
            f"must be a mapping (switches {switches}, or keyword arguments of the model's "
            f"__call__), got {yaml_repr(raw)}",
        )
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        path = join("forward", key)
        if key in FORWARD_SWITCHES:
            if not isinstance(value, bool):
                c.at(path, f"must be true or false, got {yaml_repr(value)}")
            else:
                out[key] = value
            continue
        hint = _switch_typo(key)
        if hint:
            c.at_key(
                path,
                f"unknown key {yaml_repr(key)}{hint} (switches: {switches}; any other key is a "
                "keyword argument of __call__)",
            )
            continue
        if not _KEYWORD.match(key):
            c.at_key(
                path,
                f"{yaml_repr(key)} is neither a switch ({switches}) nor a keyword argument "
                "name (a Python identifier)",
            )
            continue
        if not _plain(value):
            c.at(
                path,
                "a keyword argument of __call__ must be a YAML scalar or a list of them, got "
                f"{yaml_repr(value)}",
            )
            continue
        out[key] = value
    return out


def _init(c: _Collector, raw: Any) -> InitSpec:
    """`init: default` or `init: {w_std, b_std, parameterization}` (README "Signal propagation
    at initialization")."""
    if raw == "default":
        return InitSpec()
    if not isinstance(raw, dict):
        c.at(
            "init",
            "must be `default` or a mapping with w_std, b_std, parameterization, got "
            f"{yaml_repr(raw)}",
        )
        return InitSpec()
    c.unknown_keys(raw, "init", INIT_KEYS)
    values: dict[str, float] = {"w_std": 1.0, "b_std": 0.0}
    for key in ("w_std", "b_std"):
        if key not in raw:
            continue
        problem = _init_number_problem(key, raw[key])
        if problem is not None:
            c.at(join("init", key), problem)
        else:
            values[key] = float(raw[key])
    parameterization = raw.get("parameterization", "standard")
    if parameterization not in PARAMETERIZATIONS:
        c.at(
            "init.parameterization",
            f"must be one of {one_of(PARAMETERIZATIONS)}, got {yaml_repr(parameterization)}"
            f"{did_you_mean(str(parameterization), PARAMETERIZATIONS)}",
        )
        parameterization = "standard"
    return InitSpec(False, values["w_std"], values["b_std"], parameterization)


def _init_number_problem(key: str, v: Any) -> str | None:
    """w_std must be a positive number, b_std a number >= 0 (in `init:` and in `sweep:`)."""
    number = isinstance(v, int | float) and not isinstance(v, bool)
    if not number or not math.isfinite(v) or v < 0 or (key == "w_std" and v == 0):
        allowed = "a positive number" if key == "w_std" else "a number >= 0"
        return f"must be {allowed}, got {yaml_repr(v)}"
    return None


def _switch_typo(key: str) -> str:
    """'; did you mean 'inference'?' for a key one slip away from a switch ('infrence',
    'Key', 'stat'), else ''. Stricter than the usual did-you-mean: 'scale' is a keyword
    argument in its own right, not a misspelt 'state'."""
    import difflib

    close = [s for s in FORWARD_SWITCHES if s.lower() == key.lower()]
    close = close or difflib.get_close_matches(key, FORWARD_SWITCHES, n=1, cutoff=0.8)
    return f"; did you mean {close[0]!r}?" if close else ""


def _plain(value: Any) -> bool:
    """A YAML scalar (null, boolean, number, string) or a list of them, nested or not."""
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, bool | int | float | str)


def _model(c: _Collector, data: dict) -> tuple[Family | None, dict[str, Any], set[str]]:
    if "model" not in data:
        if "" not in c.doc.incomplete:
            c.at("", "missing required key 'model' (a mapping with `family:` and its arguments)")
        return None, {}, set()
    model = data["model"]
    if not isinstance(model, dict):
        c.at("model", f"must be a mapping with a `family:` key, got {yaml_repr(model)}")
        return None, {}, set()
    if "target" in model:
        return None, {}, set()  # handled by _target_model
    if "family" not in model:
        if "model" not in c.doc.incomplete:
            c.at("model", f"missing required key 'family' (one of: {', '.join(names())})")
        return None, {}, set()
    name = model["family"]
    if not isinstance(name, str):
        c.at(
            "model.family",
            f"must be a family name (one of: {', '.join(names())}), got {brief_repr(name)}",
        )
        return None, {}, set()
    if name not in FAMILIES:
        c.at(
            "model.family",
            f"unknown family {yaml_repr(name)}{did_you_mean(name, names())} "
            f"(one of: {', '.join(names())})",
        )
        return None, {}, set()
    family = FAMILIES[name]
    allowed = ("family", *(a.name for a in family.all_args))
    c.unknown_keys(model, "model", allowed)
    args: dict[str, Any] = family.defaults()
    explicit: set[str] = set()
    bad: set[str] = set()
    for arg in family.all_args:
        path = join("model", arg.name)
        if arg.name not in model:
            if arg.required:
                if "model" not in c.doc.incomplete:
                    c.at("model", f"missing required key {arg.name!r} ({arg.help})")
                bad.add(arg.name)
            continue
        value = model[arg.name]
        issues = arg.issues(value)
        if issues:
            c.issues(path, issues)
            bad.add(arg.name)
            continue
        args[arg.name] = arg.kind.normalized(value)
        explicit.add(arg.name)
    if family.cross_check is not None and not bad:
        for key, message in family.cross_check(args):
            c.at(join("model", key), message)
    if bad:
        return None, args, explicit
    return family, args, explicit


_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*[.:][A-Za-z_]\w*$")


def _target_name(target: str | None) -> str:
    return re.split(r"[.:]", target or "")[-1]


def _target_model(c: _Collector, model: dict) -> tuple[str | None, dict[str, Any], set[str]]:
    """`target:` models: every other key is a keyword argument; only a few are checked here.

    Nothing is imported during validation: trust is decided when the model is built.
    """
    target = model["target"]
    ok = True
    if "family" in model:
        c.at_key("model.family", "give either `family:` or `target:`, not both")
        ok = False
    if not isinstance(target, str) or not _TARGET.match(target):
        c.at(
            "model.target",
            "must be an import path to an Equinox module class or a function returning one, "
            f"like 'pdequinox.arch.ClassicUNet' or 'my_pkg.nets:Net', got {yaml_repr(target)}",
        )
        ok = False
    args = {k: v for k, v in model.items() if k != "target"}
    for arg in COMMON:
        if arg.name in args:
            message = arg.check(args[arg.name])
            if message is not None:
                c.at(join("model", arg.name), message)
                ok = False
    return (target if ok else None), args, set(args)


def _input(
    c: _Collector, raw: Any, family: Family | None, args: dict, target: str | None = None
) -> InputSpec | None:
    dims = args.get("num_spatial_dims") if isinstance(args.get("num_spatial_dims"), int) else None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        c.at("input", f"must be a mapping (resolution, batch_size, dtype), got {yaml_repr(raw)}")
        return None
    c.unknown_keys(raw, "input", INPUT_KEYS)
    ok = True
    # A family may fix its input size by an argument (its declaration's input rules).
    default_res = DEFAULT_RESOLUTION
    if family is not None and family.default_resolution is not None:
        default_res = family.default_resolution(args)
    layout, shape, extra = _layout(c, raw, family)
    res_raw = raw.get("resolution", default_res)
    if shape is not None:
        if layout == "no_channels":
            res_raw = list(shape)
        else:
            res_raw = list(shape[1:] if layout == "channels_first" else shape[:-1])
    resolution: tuple[int, ...] | None = None
    if "shape" in raw and shape is None:
        ok = False  # reported by _layout
    elif _is_pos_int(res_raw):
        resolution = (res_raw,) * (dims or 1)
    elif (
        isinstance(res_raw, list)
        and (res_raw or shape is not None)
        and all(_is_pos_int(r) for r in res_raw)
    ):
        if dims is not None and len(res_raw) != dims:
            c.at(
                "input.shape" if shape is not None else "input.resolution",
                f"needs one size per spatial axis (num_spatial_dims={dims}), "
                f"got {len(res_raw)}: {yaml_repr(res_raw)}",
            )
            ok = False
        resolution = tuple(res_raw)
    else:
        c.at(
            "input.resolution",
            "must be a positive integer or a list of positive integers (one per axis), "
            f"got {yaml_repr(res_raw)}",
        )
        ok = False
    if ok and family is not None and family.check_input is not None and resolution is not None:
        message = family.check_input(args, resolution, res_raw)
        if message is not None:
            c.at("input.shape" if shape is not None else "input.resolution", message)
            ok = False
    batch = raw.get("batch_size", 1)
    if not _is_pos_int(batch):
        c.at(
            "input.batch_size",
            f"must be a positive integer, got {yaml_repr(batch)}"
            + (" (a boolean)" if isinstance(batch, bool) else ""),
        )
        ok = False
    dtype = raw.get("dtype", "float32")
    if family is not None and dtype in DTYPES and dtype != "float32":
        c.at(
            "input.dtype",
            f"must be 'float32' for the built-in families (their weights are float32 and a "
            f"convolution needs both in one dtype), got {yaml_repr(dtype)}; other dtypes are "
            "for `target:` modules built for them",
        )
        ok = False
    if dtype not in DTYPES:
        c.at(
            "input.dtype",
            f"must be one of {one_of(DTYPES)}, got {yaml_repr(dtype)}"
            + (
                " (64-bit integers need JAX's x64 mode, which archinspect leaves off)"
                if dtype in ("int64", "uint64")
                else did_you_mean(dtype, DTYPES)
            ),
        )
        ok = False
    if shape is not None and layout == "no_channels":
        channels: int | None = 1  # the adapter's leading axis (archinspect.build.adapt)
    elif shape is not None:
        channels = shape[0] if layout == "channels_first" else shape[-1]
    elif "shape" in raw:
        channels = None
    else:
        channels = _channels(c, raw, args, target)
    if target is not None and dims is None and ok and resolution is not None:
        if not isinstance(res_raw, list):
            c.at(
                "input.resolution",
                "a `target:` model without `num_spatial_dims` needs one size per spatial axis "
                f"(a list), got {yaml_repr(res_raw)}",
            )
            ok = False
    if not ok or resolution is None or channels is None:
        return None
    return InputSpec(
        resolution=resolution,
        batch_size=batch,
        dtype=dtype,
        channels=channels,
        layout=layout,
        batch_axis=None if shape is None or extra else raw["shape"][:1] == [BATCH_AXIS],
        extra=extra,
    )


def _layout(
    c: _Collector, raw: dict, family: Family | None
) -> tuple[str | None, tuple[int, ...] | None, tuple[tuple[int, ...], ...]]:
    """input.layout, input.shape (the whole input in that layout, without its batch axis,
    which a leading `batch` marks) when given, and the shapes of further positional inputs (a
    list of shapes: README "Inputs of any shape"); problems are reported at their keys."""
    layout = raw.get("layout")
    if layout is not None and layout not in LAYOUTS:
        c.at(
            "input.layout",
            f"must be one of {one_of(LAYOUTS)}, got {yaml_repr(layout)}"
            + (did_you_mean(layout, LAYOUTS) if isinstance(layout, str) else ""),
        )
        return None, None, ()
    if family is not None and layout is not None and layout != "channels_first":
        c.at(
            "input.layout",
            "must be 'channels_first' for the built-in families (Equinox modules take channels "
            f"first); {yaml_repr(layout)} is for `target:` models",
        )
        return None, None, ()
    if "shape" not in raw:
        return layout, None, ()
    value = raw["shape"]
    for other in ("resolution", "channels"):
        if other in raw:
            c.at_key(
                f"input.{other}",
                "give either input.shape or input.resolution and input.channels, not both",
            )
            return layout, None, ()
    extra: tuple[tuple[int, ...], ...] = ()
    several = isinstance(value, list) and bool(value) and all(isinstance(v, list) for v in value)
    if several and family is None:
        if not all(all(_is_pos_int(d) for d in v) for v in value):
            c.at(
                "input.shape",
                "a list of shapes (one per positional input of the model) must hold lists of "
                f"positive integers, got {yaml_repr(value)}",
            )
            return layout, None, ()
        value, extra = value[0], tuple(tuple(v) for v in value[1:])
    dims = value[1:] if isinstance(value, list) and value and value[0] == BATCH_AXIS else value
    least = 2 if family is not None else 0
    if not (isinstance(dims, list) and len(dims) >= least and all(_is_pos_int(d) for d in dims)):
        what = (
            "the channels and at least one spatial axis"
            if family is not None
            else "its axes (none for a scalar)"
        )
        several_text = "" if family is not None else ", or a list of such shapes, one per input"
        c.at(
            "input.shape",
            f"must be a list of positive integers, {what} in the input.layout's order, "
            f"optionally after a leading '{BATCH_AXIS}' (the model is called with a batch "
            f"axis){several_text}, got {yaml_repr(raw['shape'])}",
        )
        return layout, None, ()
    if extra and dims is not value:
        c.at(
            "input.shape",
            f"cannot start with '{BATCH_AXIS}' when it lists several inputs (a batch axis is "
            "for Flax NNX models, which take one)",
        )
        return layout, None, ()
    if not dims:
        if layout not in (None, "no_channels"):
            c.at(
                "input.layout",
                f"must be 'no_channels' (or left out) for a scalar input (input.shape []), "
                f"got {yaml_repr(layout)}",
            )
            return None, None, ()
        layout = "no_channels"
    if layout is None:
        if family is None:
            c.at_key(
                "input.shape",
                "needs input.layout (channels_first, channels_last, or no_channels: every "
                "axis is spatial) to say which axis holds the features",
            )
            return None, None, ()
        layout = "channels_first"
    if family is not None and dims is not value:
        c.at(
            "input.shape",
            f"cannot start with '{BATCH_AXIS}' for the built-in families (Equinox modules take "
            "one sample; input.batch_size scales FLOPs and memory)",
        )
        return layout, None, ()
    return layout, tuple(dims), extra


def _channels(c: _Collector, raw: dict, args: dict, target: str | None) -> int | None:
    """Input channels: the family's in_channels; for a target, input.channels or in_channels."""
    if "channels" in raw:
        value = raw["channels"]
        if target is None:
            c.at_key(
                "input.channels",
                "is only for `target:` models; a family's input has model.in_channels channels",
            )
            return None
        if not _is_pos_int(value):
            c.at("input.channels", f"must be a positive integer, got {yaml_repr(value)}")
            return None
        return value
    if _is_pos_int(args.get("in_channels")):
        return args["in_channels"]
    if target is not None:
        c.at(
            "model",
            "a `target:` model needs its input channels: give model.in_channels or input.channels",
        )
    return None


def _sweep(c: _Collector, raw: Any, family: Family | None) -> dict[str, list[Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        c.at(
            "sweep", f"must be a mapping of argument name to a list of values, got {yaml_repr(raw)}"
        )
        return {}
    out: dict[str, list[Any]] = {}
    allowed = tuple(a.name for a in family.all_args) + SWEEPABLE_INPUT if family else ()
    for key, values in raw.items():
        path = join("sweep", key)
        if family is not None and key not in allowed and key not in SWEEPABLE_INIT:
            c.at_key(
                path,
                f"cannot sweep unknown argument {key!r}{did_you_mean(key, allowed)} "
                f"(allowed: {', '.join(allowed)})",
            )
            continue
        if not isinstance(values, list) or not values:
            c.at(path, f"must be a non-empty list of values, got {yaml_repr(values)}")
            continue
        arg = family.arg(key) if family else None
        for i, v in enumerate(values):
            message = arg.check(v) if arg is not None else None
            if (
                arg is None
                and key in SWEEPABLE_INPUT
                and not (
                    _is_pos_int(v)
                    or (
                        key == "input.resolution"
                        and isinstance(v, list)
                        and all(_is_pos_int(x) for x in v)
                    )
                )
            ):
                message = f"must be a positive integer, got {yaml_repr(v)}"
            if key in SWEEPABLE_INIT:
                message = _init_number_problem(key.split(".")[1], v)
            if message is not None:
                c.at(join(path, i), message)
        out[key] = values
    return out


def _budget(c: _Collector, raw: Any, dims: int | None = None) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        c.at("budget", f"must be a mapping of limits, got {yaml_repr(raw)}")
        return {}
    c.unknown_keys(raw, "budget", BUDGET_KEYS)
    out: dict[str, Any] = {}
    for key in BUDGET_AMOUNTS:
        if key in raw:
            problem = amount_problem(raw[key])
            if problem is not None:
                c.at(join("budget", key), problem)
            else:
                out[key] = parse_amount(raw[key])
    if "receptive_field" in raw:
        rf = raw["receptive_field"]
        path = "budget.receptive_field"
        if not isinstance(rf, dict) or not rf:
            c.at(path, f"must be a mapping with `min:` and/or `max:`, got {yaml_repr(rf)}")
        else:
            c.unknown_keys(rf, path, ("min", "max"))
            for bound in ("min", "max"):
                if bound in rf:
                    v = rf[bound]
                    if not (
                        _is_nonneg_int(v)
                        or (
                            isinstance(v, list)
                            and v
                            and all(
                                _is_nonneg_int(x)
                                or (
                                    isinstance(x, list)
                                    and len(x) == 2
                                    and all(_is_nonneg_int(y) for y in x)
                                )
                                for x in v
                            )
                        )
                    ):
                        c.at(
                            join(path, bound),
                            "must be a non-negative integer, or a list with one entry per axis "
                            f"(an integer or a [backward, forward] pair), got {yaml_repr(v)}",
                        )
                    elif isinstance(v, list) and dims is not None and len(v) != dims:
                        c.at(
                            join(path, bound),
                            f"needs one entry per spatial axis ({dims}), got {yaml_repr(v)}",
                        )
            out["receptive_field"] = rf
    return out


def _is_pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _is_nonneg_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0
