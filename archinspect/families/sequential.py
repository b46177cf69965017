"""Sequential: a custom stack of layers with every convolution knob
(model: archinspect/models/sequential.py; README, "Custom layer stacks: `family: Sequential`").

Validation walks the stack over the spec's input size (JAX-free, with the arithmetic of
archinspect/families/conv_arithmetic.py that the layers use too), so an impossible layer is
an error at its own line: a string padding with input_dilation > 1, CAUSAL beyond 1-D,
channels not divisible by groups, an output of size 0 or less, a per-axis list of the wrong
length, out_channels that disagree with the layers.

The receptive field comes from the structural analysis (no analytic composition is declared).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from archinspect.families.conv_arithmetic import (
    CONV_PADDINGS,
    POOL_PADDINGS,
    TRANSPOSE_PADDINGS,
    ConvArithmeticError,
    Resolved,
    check_groups,
    resolve_conv,
    resolve_conv_transpose,
    resolve_pool,
)
from archinspect.families.family import COMMON, Args, Family
from archinspect.spec.kinds import (
    ACTIVATIONS,
    Arg,
    Bool,
    Int,
    Layer,
    LayerList,
    OptionalInt,
    Padding,
    PerAxis,
    Rate,
)


def _conv_args(paddings: tuple[str, ...], input_dilation: bool) -> tuple[Arg, ...]:
    return (
        Arg("out_channels", Int(), required=True, help="channels of the output"),
        Arg("kernel_size", PerAxis(), required=True, help="kernel size (one int or one per axis)"),
        Arg("stride", PerAxis(), 1, help="stride (one int or one per axis)"),
        Arg(
            "padding",
            Padding(paddings),
            "SAME",
            help=f"{', '.join(paddings)}, an int (both sides) or one [low, high] pair per axis",
        ),
        Arg("kernel_dilation", PerAxis(), 1, help="gaps between kernel taps (rhs dilation)"),
        *(
            (Arg("input_dilation", PerAxis(), 1, help="gaps between input cells (lhs dilation)"),)
            if input_dilation
            else ()
        ),
        Arg("groups", Int(), 1, help="feature groups; channels must be divisible by it"),
        Arg("use_bias", Bool(), True, help="add one bias per output channel"),
    )


_POOL_ARGS = (
    Arg("window", PerAxis(), required=True, help="window size (one int or one per axis)"),
    Arg("stride", PerAxis(), 1, help="stride (one int or one per axis)"),
    Arg(
        "padding",
        Padding(POOL_PADDINGS),
        "VALID",
        help="SAME, VALID, an int or one [low, high] pair per axis",
    ),
)

LAYERS = LayerList(
    (
        Layer("conv", _conv_args(CONV_PADDINGS, True), "convolution (flax.nnx.Conv)"),
        Layer(
            "conv_transpose",
            _conv_args(TRANSPOSE_PADDINGS, False),
            "transposed convolution (flax.nnx.ConvTranspose; its stride dilates the input)",
        ),
        Layer("max_pool", _POOL_ARGS, "maximum over each window (flax.nnx.max_pool)"),
        Layer("avg_pool", _POOL_ARGS, "mean over each window, padding counted (nnx.avg_pool)"),
        Layer("global_avg_pool", help="mean over every spatial axis, each kept with size 1"),
        Layer("global_max_pool", help="maximum over every spatial axis, each kept with size 1"),
        Layer(
            "group_norm",
            (Arg("groups", Int(), required=True, help="channel groups"),),
            "normalization over each group of channels and every cell (scale and bias)",
        ),
        Layer("layer_norm", help="normalization over the channels of each cell (scale and bias)"),
        Layer(
            "dense",
            (Arg("out_features", Int(), required=True, help="features of the output"),),
            "affine map of the channels of each cell (of every feature after flatten)",
        ),
        Layer("flatten", help="every cell and channel into one feature axis"),
        Layer(
            "dropout",
            (Arg("rate", Rate(), 0.5, help="dropout rate"),),
            "identity for inspection",
        ),
        Layer(
            "spectral_conv",
            (
                Arg("out_channels", Int(), required=True, help="channels of the output"),
                Arg("num_modes", Int(), required=True, help="Fourier modes kept on every axis"),
            ),
            "Fourier layer of an FNO (complex weights)",
        ),
        Layer(
            "residual",
            help="a nested list of layers whose output is added to its input "
            "(through a 1x1 conv when the channels change)",
            nested=True,
        ),
        *(Layer(name, help=f"the {name} activation") for name in ACTIVATIONS),
    )
)

SPATIAL_ONLY = (
    "conv",
    "conv_transpose",
    "max_pool",
    "avg_pool",
    "global_avg_pool",
    "global_max_pool",
    "group_norm",
    "spectral_conv",
    "residual",
)
# Layers whose output cell reads a window of cells along each axis independently: the
# receptive field along one axis does not depend on the others' sizes.
SEPARABLE = (
    "conv",
    "conv_transpose",
    "max_pool",
    "avg_pool",
    "layer_norm",
    "dense",
    "dropout",
    "residual",
    *ACTIVATIONS,
)


@dataclass
class Shape:
    """What flows between layers: channels (features after flatten) and the spatial sizes
    (None after flatten)."""

    channels: int
    spatial: tuple[int, ...] | None


def _name(item: dict | str) -> tuple[str, Any]:
    if isinstance(item, str):
        return item, {}
    ((name, args),) = item.items()
    return name, args


def walk(
    layers: Sequence[dict],
    shape: Shape,
    problems: list[tuple[str, str]],
    path: str = "layers",
    label: str = "",
) -> Shape | None:
    """The shape after each layer of a normalized layer list; problems are appended as
    (path below model, message). None once a layer cannot apply (the walk stops there)."""
    for i, item in enumerate(layers):
        name, args = _name(item)
        where = f"{path}[{i}]"
        here = f"{where}.{name}"
        tag = f"layer {label}{i} ({name})"
        if shape.spatial is None and name in SPATIAL_ONLY:
            problems.append(
                (
                    here,
                    f"{tag} needs spatial axes, but a flatten before it removed them (after "
                    "flatten: dense, layer_norm, dropout and activations)",
                )
            )
            return None
        try:
            out = _layer(name, args, shape, here, tag, problems, label=f"{label}{i}.")
        except ConvArithmeticError as e:
            problems.append((f"{here}.{e.key}" if e.key else here, f"{tag}: {e}"))
            return None
        if out is None:
            return None
        shape = out
    return shape


def _sizes(resolved: Resolved, here: str, tag: str, problems: list) -> tuple[int, ...] | None:
    out = resolved.spatial_out
    for axis, size in enumerate(out):
        if size <= 0:
            problems.append((here, f"{tag} {resolved.arithmetic(axis)}"))
            return None
    return out


def _layer(
    name: str, args: Any, shape: Shape, here: str, tag: str, problems: list, label: str
) -> Shape | None:
    spatial = shape.spatial
    if name in ("conv", "conv_transpose"):
        assert spatial is not None
        check_groups(shape.channels, args["out_channels"], args["groups"])
        if name == "conv":
            r = resolve_conv(
                spatial,
                args["kernel_size"],
                args["stride"],
                args["padding"],
                args["kernel_dilation"],
                args["input_dilation"],
            )
        else:
            r = resolve_conv_transpose(
                spatial, args["kernel_size"], args["stride"], args["padding"],
                args["kernel_dilation"],
            )  # fmt: skip
        out = _sizes(r, here, tag, problems)
        return None if out is None else Shape(args["out_channels"], out)
    if name in ("max_pool", "avg_pool"):
        assert spatial is not None
        r = resolve_pool(spatial, args["window"], args["stride"], args["padding"])
        out = _sizes(r, here, tag, problems)
        return None if out is None else Shape(shape.channels, out)
    if name in ("global_avg_pool", "global_max_pool"):
        assert spatial is not None
        return Shape(shape.channels, (1,) * len(spatial))
    if name == "group_norm":
        if shape.channels % args["groups"]:
            raise ConvArithmeticError(
                f"channels must be divisible by groups (={args['groups']}): "
                f"channels={shape.channels}",
                "groups",
            )
        return shape
    if name == "dense":
        return Shape(args["out_features"], spatial)
    if name == "flatten":
        assert spatial is not None
        return Shape(shape.channels * math.prod(spatial), None)
    if name == "spectral_conv":
        assert spatial is not None
        m = args["num_modes"]
        for axis, n in enumerate(spatial):
            last = axis == len(spatial) - 1
            if m > (n // 2 + 1 if last else n // 2):
                raise ConvArithmeticError(
                    f"num_modes (={m}) needs at least {2 * m - (2 if last else 0)} cells on "
                    f"axis {axis}, got {n}",
                    "num_modes",
                )
        return Shape(args["out_channels"], spatial)
    if name == "residual":
        body = walk(args, Shape(shape.channels, spatial), problems, here, label)
        if body is None:
            return None
        if body.spatial != spatial:
            problems.append(
                (
                    here,
                    f"{tag} changes the spatial shape from {list(spatial or ())} to "
                    f"{list(body.spatial or ())}; a residual's body must keep it (its output "
                    "is added to its input)",
                )
            )
            return None
        return Shape(body.channels, spatial)
    return shape  # activations, layer_norm, dropout


def output_shape(args: Args, resolution: tuple[int, ...]) -> tuple[Shape | None, list]:
    problems: list[tuple[str, str]] = []
    shape = walk(args["layers"], Shape(args["in_channels"], tuple(resolution)), problems)
    return shape, problems


def check_shapes(args: Args, resolution: tuple[int, ...]) -> list[tuple[str, str]]:
    shape, problems = output_shape(args, resolution)
    if shape is not None and args.get("out_channels") is not None:
        if shape.channels != args["out_channels"]:
            what = "features" if shape.spatial is None else "channels"
            problems.append(
                (
                    "out_channels",
                    f"the layers produce {shape.channels} {what}, but out_channels is "
                    f"{args['out_channels']} (leave it out to take the layers')",
                )
            )
    return problems


def _separable(layers: Sequence[dict]) -> bool:
    for item in layers:
        name, args = _name(item)
        if name not in SEPARABLE or (name == "residual" and not _separable(args)):
            return False
    return True


def separable(args: Args) -> bool:
    """Windowed layers only (convs, pools, per-cell maps, residuals of them): global pools,
    group norms, spectral convs and flatten let every cell see every other."""
    return _separable(args["layers"])


FAMILY = Family(
    "Sequential",
    "a custom stack of layers: convs with every knob, pools, norms, dense, residuals",
    "archinspect.models.sequential:Sequential",
    (Arg("layers", LAYERS, required=True, help="the layers, in call order"),),
    receptive_field=None,
    separable=separable,
    check_shapes=check_shapes,
    # check_shapes walks the layers with the arithmetic the layers themselves use.
    input_rule_complete=True,
    input_sized=True,
    common=(
        COMMON[0],  # num_spatial_dims, as every family
        Arg("in_channels", Int(), required=True, help="channels of the input", sweep=(1, 2, 4, 8)),
        Arg(
            "out_channels",
            OptionalInt(),
            None,
            help="channels of the output, checked against the layers (default: theirs)",
        ),
    ),
)
