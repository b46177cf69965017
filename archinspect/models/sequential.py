"""Sequential: a custom stack of layers (declaration: archinspect/families/sequential.py)."""

from __future__ import annotations

import equinox as eqx
import jax

from archinspect.families.sequential import Shape, output_shape, walk
from archinspect.layers import stack as st
from archinspect.layers.spectral import SpectralConv


def _build(
    layers: list[dict], n: int, shape: Shape, key: jax.Array
) -> tuple[list[eqx.Module], Shape]:
    keys = jax.random.split(key, len(layers))
    built: list[eqx.Module] = []
    for item, k in zip(layers, keys, strict=True):
        ((name, args),) = item.items()
        c = shape.channels
        if name == "conv":
            layer: eqx.Module = st.Conv(n, c, **args, key=k)
        elif name == "conv_transpose":
            layer = st.ConvTranspose(n, c, **args, key=k)
        elif name in ("max_pool", "avg_pool"):
            layer = st.Pool(name.partition("_")[0], n, **args)
        elif name in ("global_avg_pool", "global_max_pool"):
            layer = st.GlobalPool(name.split("_")[1])
        elif name == "group_norm":
            layer = st.GroupNorm(c, args["groups"])
        elif name == "layer_norm":
            layer = st.LayerNorm(c)
        elif name == "dense":
            layer = st.Dense(c, args["out_features"], key=k)
        elif name == "flatten":
            layer = st.Flatten()
        elif name == "dropout":
            layer = st.Dropout(args["rate"])
        elif name == "spectral_conv":
            layer = SpectralConv(n, c, args["out_channels"], args["num_modes"], key=k)
        elif name == "residual":
            body, after = _build(args, n, shape, k)
            project = None
            if after.channels != c:
                project = st.Conv(n, c, after.channels, 1, key=jax.random.fold_in(k, 1))
            layer = st.Residual(body, project)
        else:
            layer = st.Activation(name)
        built.append(layer)
        shape = _next(item, shape)
    return built, shape


def _next(item: dict, shape: Shape) -> Shape:
    """The shape after one layer (the arithmetic validation already walked)."""
    problems: list = []
    after = walk([item], shape, problems)
    if after is None:
        raise ValueError("; ".join(message for _, message in problems))
    return after


class Sequential(eqx.Module):
    """The layers in call order, on one sample (channels, *spatial)."""

    layers: list
    num_spatial_dims: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int | None = None,
        *,
        layers: list[dict],
        resolution: tuple[int, ...],
        key: jax.Array,
    ):
        args = {"layers": layers, "in_channels": in_channels, "num_spatial_dims": num_spatial_dims}
        final, problems = output_shape(args, tuple(resolution))
        if final is None:
            raise ValueError("; ".join(f"model.{where}: {message}" for where, message in problems))
        self.layers, _ = _build(
            layers, num_spatial_dims, Shape(in_channels, tuple(resolution)), key
        )
        self.num_spatial_dims = num_spatial_dims
        self.in_channels = in_channels
        self.out_channels = final.channels
        if out_channels is not None and out_channels != final.channels:
            raise ValueError(
                f"out_channels (={out_channels}) disagrees with the layers' {final.channels}"
            )

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers:
            x = layer(x)
        return x
