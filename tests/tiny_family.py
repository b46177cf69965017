"""A family that is not built in: one same-padded convolution, declared and built here.

tests/test_families.py registers it to show that a new family is one declaration plus its
model, and that every command then knows it.
"""

from __future__ import annotations

import equinox as eqx
import jax

from archinspect.families import Family
from archinspect.spec.kinds import Arg, Int, Layer, LayerList


class TinyConv(eqx.Module):
    conv: eqx.nn.Conv

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        key: jax.Array,
    ):
        self.conv = eqx.nn.Conv(
            num_spatial_dims, in_channels, out_channels, kernel_size, padding="SAME", key=key
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.conv(x)


def receptive_field(args):
    from archinspect.analysis.receptive_field import analytic as a

    return a.stencil(a.conv(args["kernel_size"]))


TINY = Family(
    "TinyConv",
    "one same-padded convolution (a family declared by the test suite)",
    "tests.tiny_family:TinyConv",
    (Arg("kernel_size", Int(), 3, help="kernel size on every axis", sweep=(1, 3, 5)),),
    receptive_field=receptive_field,
    separable=True,
)


class TinyStack(eqx.Module):
    """A stack written as a list of layers: `conv` (same-padded, in -> out channels for the
    first, out -> out after) and `relu`."""

    layers: list

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        layers: list,
        *,
        key: jax.Array,
    ):
        keys = jax.random.split(key, len(layers))
        built: list = []
        channels = in_channels
        for item, k in zip(layers, keys, strict=True):
            ((name, args),) = item.items()
            if name == "conv":
                built.append(
                    eqx.nn.Conv(
                        num_spatial_dims,
                        channels,
                        out_channels,
                        args["kernel_size"],
                        dilation=args["dilation"],
                        padding="SAME",
                        key=k,
                    )
                )
                channels = out_channels
            else:
                built.append(eqx.nn.Lambda(jax.nn.relu))
        self.layers = built

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers:
            x = layer(x)
        return x


def stack_receptive_field(args):
    from archinspect.analysis.receptive_field import analytic as a

    convs = [
        a.conv(item["conv"]["kernel_size"], item["conv"]["dilation"])
        for item in args["layers"]
        if "conv" in item
    ]
    return a.stencil(a.then(*convs))


STACK = Family(
    "TinyStack",
    "convolutions and ReLUs given as a list of layers (a family declared by the test suite)",
    "tests.tiny_family:TinyStack",
    (
        Arg(
            "layers",
            LayerList(
                (
                    Layer(
                        "conv",
                        (
                            Arg("kernel_size", Int(), 3, help="kernel size on every axis"),
                            Arg("dilation", Int(), 1, help="dilation on every axis"),
                        ),
                        help="a same-padded convolution",
                    ),
                    Layer("relu", help="max(x, 0)"),
                )
            ),
            required=True,
            help="the layers, in call order",
        ),
    ),
    receptive_field=stack_receptive_field,
    separable=True,
)
