"""GroupCNN: a lifting convolution Z2 -> G, then group convolutions G -> G (G = C4 or D4).

widths in -> hidden[0] -> ... -> hidden[-1] -> out; the first layer lifts, every later one is a
group convolution; the activation follows every layer but the last (pointwise, so it keeps
equivariance); optionally a pooling over the orientations makes the output invariant to the
orientation permutation ((C_out, H, W) instead of (C_out * S, H, W)). Layers in
archinspect/layers/group_conv.py.
"""

from __future__ import annotations

import equinox as eqx
import jax

from archinspect.activations import activation as get_activation
from archinspect.layers.group_conv import GroupConv, LiftingConv, OrientationPool


class GroupCNN(eqx.Module):
    lifting: LiftingConv
    layers: list[GroupConv]
    pool: OrientationPool | None
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        group: str = "C4",
        hidden_channels: tuple[int, ...] | list[int] = (8,),
        kernel_size: int = 3,
        padding: str = "SAME",
        use_bias: bool = True,
        activation: str = "relu",
        pool_orientations: str | None = None,
        key: jax.Array,
    ):
        if num_spatial_dims != 2:
            raise ValueError(
                "group convolutions rotate the plane: num_spatial_dims must be 2, "
                f"got {num_spatial_dims}"
            )
        if not hidden_channels:
            raise ValueError("hidden_channels must list at least one G-channel width")
        if pool_orientations not in (None, "max", "mean"):
            raise ValueError(
                f"pool_orientations must be max, mean or null, got {pool_orientations!r}"
            )
        widths = [*hidden_channels, out_channels]
        keys = jax.random.split(key, len(widths))
        self.lifting = LiftingConv(
            group,
            in_channels,
            widths[0],
            kernel_size,
            padding=padding,
            use_bias=use_bias,
            key=keys[0],
        )
        self.layers = [
            GroupConv(group, c_in, c_out, kernel_size, padding=padding, use_bias=use_bias, key=k)
            for c_in, c_out, k in zip(widths[:-1], widths[1:], keys[1:], strict=True)
        ]
        self.pool = None if pool_orientations is None else OrientationPool(group, pool_orientations)
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        act = get_activation(self.activation)
        x = self.lifting(x)
        for layer in self.layers:
            x = layer(act(x))
        return x if self.pool is None else self.pool(x)
