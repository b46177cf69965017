"""`init:` applied to a built model (README "Signal propagation at initialization").

Every conv and dense layer (archinspect's own, Equinox's Conv/ConvTranspose/Linear, so a
`target:` too) gets its weight re-drawn from N(0, w_std^2 / fan_in) and its bias from
N(0, b_std^2), with numpy from the seed, layer after layer in the tree's order. fan_in is read
from the weight's shape, (out, in / groups, *kernel): in / groups x prod(kernel), what one
output cell of a direct convolution sums over (a dense layer: in). A transposed convolution
gets the same rule (its weight has the same layout); with stride s only about prod(kernel) /
prod(s) of those taps meet a non-inserted cell, so its output variance is ~ 1 / prod(s) of
what the formula aims at.

`ntk` stores N(0, 1) weights and biases and scales them by w_std / sqrt(fan_in) and b_std
inside the forward pass (`Drawn.effective`): the values the layers compute with are the same
floats as the standard draw's, so forward statistics at init are identical; only gradients
with respect to the parameters differ.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from archinspect.spec.model import InitSpec


def layer_types() -> tuple[type, ...]:
    """The conv and dense layer classes whose weight is (out, in / groups, *kernel)."""
    import equinox as eqx

    from archinspect.layers import conv, group_conv, stack
    from archinspect.models import tcn

    # pdequinox's convs (a trusted `target:`) have the same weight layout; looked up only when a
    # target has imported pdequinox
    pdequinox = sys.modules.get("pdequinox.conv")
    theirs = (pdequinox.PhysicsConv, pdequinox.PhysicsConvTranspose) if pdequinox else ()
    return (
        *theirs,
        conv.Conv,
        conv.UpConv,
        stack.Conv,
        stack.ConvTranspose,
        stack.Dense,
        group_conv.LiftingConv,
        group_conv.GroupConv,
        tcn.CausalConv,
        eqx.nn.Conv,
        eqx.nn.ConvTranspose,
        eqx.nn.Linear,
    )


def fan_in(shape: tuple[int, ...]) -> int:
    """What one output of the layer sums over: every axis of the weight after the first."""
    return math.prod(shape[1:]) if len(shape) > 1 else 1


def layer_paths(model: Any) -> tuple[str, ...]:
    """Paths (as `shapes` prints them) of the model's conv and dense layers, tree order."""
    from archinspect.analysis.params import module_tree

    kinds = layer_types()
    return tuple(path for path, node in module_tree(model) if isinstance(node, kinds))


@dataclasses.dataclass(frozen=True)
class Drawn:
    """A model with real weights, and how the forward pass sees it."""

    model: Any  # the parameters as stored
    layers: tuple[str, ...]  # paths of the re-drawn conv and dense layers
    untouched: tuple[str, ...]  # floating arrays left with the constructor's values
    scale: Callable[[Any], Any] | None = None  # ntk: stored parameters -> what layers use

    def effective(self, model: Any) -> Any:
        return model if self.scale is None else self.scale(model)


def _map_layers(model: Any, fn: Callable[[Any], Any]) -> Any:
    import jax

    kinds = layer_types()
    return jax.tree_util.tree_map(
        lambda node: fn(node) if isinstance(node, kinds) else node,
        model,
        is_leaf=lambda node: isinstance(node, kinds),
    )


def _with(layer: Any, weight: Any, bias: Any) -> Any:
    import equinox as eqx

    out = eqx.tree_at(lambda m: m.weight, layer, weight)
    if bias is not None:
        out = eqx.tree_at(lambda m: m.bias, out, bias)
    return out


def _bias(layer: Any) -> Any:
    from archinspect.analysis.params import is_array_like

    bias = getattr(layer, "bias", None)
    return bias if is_array_like(bias) else None


def draw(model: Any, init: InitSpec, seed: int) -> Drawn:
    """`model` (built with real weights by its constructor) with `init` applied."""
    import jax.numpy as jnp

    from archinspect.analysis.params import module_rows

    layers = layer_paths(model)
    rows, _ = module_rows(model)
    untouched = tuple(
        leaf.name  # the leaf's whole path
        for row in rows
        for leaf in row.leaves
        if leaf.learnable and (init.default or row.path not in layers)
    )
    if init.default:
        return Drawn(model, layers, untouched)
    rng = np.random.default_rng([seed, 2])
    ntk = init.parameterization == "ntk"

    def gain(layer: Any) -> np.floating:
        return np.float32(init.w_std / math.sqrt(fan_in(tuple(layer.weight.shape))))

    def redraw(layer: Any) -> Any:
        w = layer.weight
        eps = jnp.asarray(rng.standard_normal(tuple(w.shape)), w.dtype)
        bias = _bias(layer)
        beta = None
        if bias is not None:
            beta = jnp.asarray(rng.standard_normal(tuple(bias.shape)), bias.dtype)
        if ntk:  # stored N(0, 1); scaled in the forward pass (`scaled`)
            return _with(layer, eps, beta)
        return _with(
            layer,
            eps * gain(layer),
            None if beta is None else beta * np.float32(init.b_std),
        )

    def scaled(stored: Any) -> Any:
        return _map_layers(
            stored,
            lambda layer: _with(
                layer,
                layer.weight * gain(layer),
                None if _bias(layer) is None else layer.bias * np.float32(init.b_std),
            ),
        )

    return Drawn(_map_layers(model, redraw), layers, untouched, scaled if ntk else None)
