"""The empirical method cannot be fooled where plain gradients are.

The `receptivefield` package's approach takes the gradient of an output cell of the real network
at some input and calls the nonzero entries the receptive field. A dead ReLU or a saturated tanh
has slope zero, so cells the output does depend on get a zero gradient: the estimate shrinks.
archinspect's empirical method takes the gradient of a positive, linear float64 copy instead,
and must give the exact value on exactly those networks.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from jax import lax

from archinspect.analysis.receptive_field import receptive_field
from archinspect.analysis.receptive_field.analytic import analytic_receptive_field
from archinspect.analysis.receptive_field.empirical import (
    empirical_receptive_field,
    positive_linear_copy,
)
from archinspect.build import build_abstract
from archinspect.errors import ArchinspectError, UnsupportedOperation
from archinspect.families import FAMILIES
from archinspect.layers.conv import Conv
from archinspect.spec import load_spec_text

KEY = jax.random.PRNGKey(0)


def convnet(activation: str, depth: int = 3):
    """A concrete ConvNet with depth + 1 3-convs: exact RF (depth + 1) * (1, 1)."""
    args = {
        "num_spatial_dims": 1,
        "in_channels": 1,
        "out_channels": 1,
        "hidden_channels": 4,
        "depth": depth,
        "activation": activation,
    }
    spec = load_spec_text(yaml.safe_dump({"model": {"family": "ConvNet", **args}}), "t")
    return FAMILIES["ConvNet"].load_class()(**spec.args, key=KEY)


def naive_rf(model, n: int = 32):
    """Gradient of the real network's centre output cell at a random input (float32)."""
    x = jax.random.normal(jax.random.PRNGKey(1), (1, n))
    grad = jax.grad(lambda v: model(v)[:, n // 2].sum())(x)
    cells = np.nonzero(np.asarray(grad)[0])[0]
    if cells.size == 0:
        return (0, 0)
    return (n // 2 - int(cells[0]), int(cells[-1]) - n // 2)


def test_dead_relus_fool_the_naive_gradient_but_not_the_empirical_method():
    model = convnet("relu")
    # Every hidden bias at -100: every ReLU is dead for inputs of unit size.
    dead = eqx.tree_at(
        lambda m: [layer.bias for layer in m.layers[:-1]],
        model,
        [jnp.full_like(layer.bias, -100.0) for layer in model.layers[:-1]],
    )
    assert naive_rf(model) == (4, 4)  # alive, the naive estimate happens to be right
    assert naive_rf(dead) == (0, 0)  # dead: it sees nothing
    assert receptive_field(dead, (1, 32), method="empirical").per_axis == ((4, 4),)
    assert receptive_field(dead, (1, 32)).per_axis == ((4, 4),)


def test_saturated_tanh_fools_the_naive_gradient_but_not_the_empirical_method():
    model = convnet("tanh")
    # Weights scaled by 1000: every tanh saturates, and its float32 slope is exactly 0.
    loud = eqx.tree_at(
        lambda m: [layer.weight for layer in m.layers],
        model,
        [1000.0 * layer.weight for layer in model.layers],
    )
    back, fwd = naive_rf(loud)
    assert back < 4 and fwd < 4
    assert receptive_field(loud, (1, 32), method="empirical").per_axis == ((4, 4),)


def test_positive_copy_of_a_built_in_unet():
    s = load_spec_text(
        yaml.safe_dump(
            {
                "model": {
                    "family": "ModernUNet",
                    "num_spatial_dims": 1,
                    "in_channels": 1,
                    "out_channels": 1,
                    "hidden_channels": 2,
                    "num_levels": 1,
                }
            }
        ),
        "t",
    )
    copy, cut = positive_linear_copy(build_abstract(s))
    leaves = jax.tree_util.tree_leaves(copy)
    assert leaves and all(x.dtype == np.float64 and bool(np.all(np.asarray(x) > 0)) for x in leaves)
    modules = [
        m
        for m in jax.tree_util.tree_leaves(copy, is_leaf=lambda m: isinstance(m, eqx.Module))
        if isinstance(m, eqx.Module)
    ]
    assert not any(isinstance(m, eqx.nn.GroupNorm) for m in modules)
    assert copy.lifting.activation == "identity"
    assert [g.path for g in cut][:3] == ["lifting.norm_1", "lifting.norm_2", "lifting.bypass_norm"]


def test_positive_copy_of_a_pdequinox_network_replaces_callable_activations():
    import pdequinox as pdeq

    model = eqx.filter_eval_shape(
        lambda: pdeq.arch.ClassicResNet(1, 1, 1, num_blocks=1, key=KEY, activation=jax.nn.gelu)
    )
    copy, _ = positive_linear_copy(model)
    assert copy.blocks[0].activation(3.0) == 3.0  # jax.nn.gelu(3.0) would be 2.996...
    assert model.blocks[0].activation is jax.nn.gelu


class Squared(eqx.Module):
    """conv then an elementwise square held in a field archinspect cannot know is nonlinear."""

    conv: Conv
    fn: Callable = eqx.field(static=True)

    def __call__(self, x):
        return self.fn(self.conv(x))


class Difference(eqx.Module):
    """Two convs, one negated then added: with positive weights, paths of both signs remain."""

    a: Conv
    b: Conv

    def __call__(self, x):
        return self.a(x) + (-self.b(x))


class Subtracted(Difference):
    """Two convs subtracted: the copy reads a - b as a + b (linearise.py), no sign remains."""

    def __call__(self, x):
        return self.a(x) - self.b(x)


def _leaky(x):  # a select on the sign of the input: no rewrite reads it as linear
    return jnp.where(x > 0, x, 0.1 * x)


def test_an_unknown_nonlinearity_is_refused():
    model = Squared(Conv(1, 1, 1, 3, key=KEY), _leaky)
    with pytest.raises(UnsupportedOperation, match="stays nonlinear"):
        receptive_field(model, (1, 32), method="empirical")
    assert receptive_field(model, (1, 32)).per_axis == ((1, 1),)  # structural: fine
    # a square is linearised to its operand (linearise.py): measured, k3 reads (1, 1)
    squared = Squared(Conv(1, 1, 1, 3, key=KEY), jnp.square)
    assert receptive_field(squared, (1, 32), method="both").per_axis == ((1, 1),)


def test_a_negation_is_refused_and_a_subtraction_measured():
    convs = (Conv(1, 1, 1, 3, key=KEY), Conv(1, 1, 1, 5, key=jax.random.PRNGKey(3)))
    with pytest.raises(UnsupportedOperation, match="negative sign"):
        receptive_field(Difference(*convs), (1, 32), method="empirical")
    assert receptive_field(Difference(*convs), (1, 32)).per_axis == ((2, 2),)
    # a - b with a k3 and a k5 conv: the k5 reads (2, 2), by both methods
    assert receptive_field(Subtracted(*convs), (1, 32), method="both").per_axis == ((2, 2),)


def test_global_couplings_measured_empirically():
    fno = load_spec_text(
        yaml.safe_dump(
            {
                "model": {
                    "family": "ClassicFNO",
                    "num_spatial_dims": 1,
                    "in_channels": 1,
                    "out_channels": 1,
                    "hidden_channels": 2,
                    "num_modes": 3,
                    "num_blocks": 1,
                },
                "input": {"resolution": 16},
            }
        ),
        "t",
    )
    r = receptive_field(build_abstract(fno), fno.input_shape, method="empirical")
    assert r.per_axis == ((float("inf"), float("inf")),) and r.global_
    mlp = load_spec_text(
        yaml.safe_dump(
            {
                "model": {
                    "family": "MLP",
                    "num_spatial_dims": 1,
                    "in_channels": 1,
                    "out_channels": 1,
                    "num_points": 12,
                    "width_size": 4,
                    "depth": 1,
                }
            }
        ),
        "t",
    )
    # A dense layer over space: the model refuses other sizes, so the axis length is reported.
    r = receptive_field(build_abstract(mlp), mlp.input_shape, method="empirical")
    assert r.per_axis == ((12, 12),) and r.global_


def test_both_methods_must_agree():
    model = Difference(Conv(1, 1, 1, 3, key=KEY), Conv(1, 1, 1, 3, key=KEY))
    with pytest.raises(UnsupportedOperation, match=r"a path with a negative sign survives"):
        receptive_field(model, (1, 16), method="both")
    s = load_spec_text(
        yaml.safe_dump(
            {
                "model": {
                    "family": "ClassicUNet",
                    "num_spatial_dims": 1,
                    "in_channels": 1,
                    "out_channels": 1,
                    "hidden_channels": 2,
                    "num_levels": 2,
                },
                "input": {"resolution": 16},
            }
        ),
        "t",
    )
    r = receptive_field(build_abstract(s), s.input_shape, method="both")
    assert r.method == "structural" and r.per_axis == ((26, 26),)


def dilated(d: int, hidden: int):
    return load_spec_text(
        yaml.safe_dump(
            {
                "model": {
                    "family": "DilatedResNet",
                    "num_spatial_dims": d,
                    "in_channels": 1,
                    "out_channels": 1,
                    "hidden_channels": hidden,
                    "dilation_rates": [20000],
                },
                "input": {"resolution": 64},
            }
        ),
        "t",
    )


def test_aliasing_through_the_periodic_boundary_is_detected_and_measured():
    # Two residual blocks of one 3-conv with dilation 20000 on a periodic 64-cell grid: the
    # taps at +-20000 and +-40000 wrap to cells 32 and 0 of the grid, so a measurement on 64
    # cells sees (32, 32) or less. The family's analytic composition is the oracle: each block
    # reaches 20000 cells each way, two of them 40000.
    s = dilated(1, 1)
    analytic = analytic_receptive_field(s)
    assert analytic.per_axis == ((40000, 40000),)
    # No hint from another method: the measurement starts on the spec's 64 cells.
    got = empirical_receptive_field(build_abstract(s), s.input_shape, separable=True)
    assert got.per_axis == analytic.per_axis
    assert got.position_range == analytic.position_range
    assert got.global_ == analytic.global_
    assert got.analysed_shape[1] > 2 * 40000  # measured where nothing wraps


def test_the_structural_method_refuses_a_stencil_past_its_limit_and_says_why():
    # The same network: a stencil of 40000 cells each way needs an input of over 80,000 cells
    # to free one output cell from the boundary; the structural method stops at 65,536 per
    # axis and says so (it never reports the aliased (32, 32) or less).
    s = dilated(1, 1)
    with pytest.raises(
        ArchinspectError,
        match=r"at \(64,\) cells no output cell is free of boundary effects .* the next input, "
        r"\(131072,\) cells, is past the structural method's limit of 65,536 cells per axis .*"
        r"try --method empirical",
    ):
        receptive_field(build_abstract(s), s.input_shape)


def test_a_measurement_beyond_the_memory_bound_is_refused_with_the_size():
    # In 2-D each 3-conv's periodic padding of 20000 cells makes every hidden array about
    # 40,000 x 40,000 cells: the method refuses before allocating anything.
    s = dilated(2, 32)
    with pytest.raises(
        ArchinspectError,
        match=r"measuring on an input of \(64, 4\) cells needs about \d+\.\d GiB in float64 "
        r"\([\d,]+ bytes: 2 × [\d,]+ bytes of weights, \d+ × [\d,]+ bytes of values",
    ):
        empirical_receptive_field(build_abstract(s), s.input_shape, separable=True)


class Printing(eqx.Module):
    """A conv whose forward pass prints (jax.debug.print) inside a nested jit."""

    conv: Conv

    def __call__(self, x):
        @jax.jit
        def body(y):
            jax.debug.print("forward pass {}", y.sum())
            return lax.stop_gradient(self.conv(y)) + y

        return body(x)


def test_debug_prints_are_dropped_and_never_run(capfd):
    # The print has no data dependency: the stencil is the conv's, through the stop_gradient
    # (which the forward pass computes as the identity).
    model = Printing(Conv(1, 1, 1, 3, key=KEY))
    got = receptive_field(model, (1, 32), method="empirical")
    assert got.per_axis == ((1, 1),)
    out, err = capfd.readouterr()
    assert "forward pass" not in out + err


class Opaque(eqx.Module):
    conv: Conv

    def __call__(self, x):
        y = jax.pure_callback(np.flip, jax.ShapeDtypeStruct(x.shape, x.dtype), x)
        return self.conv(y)


def test_a_callback_that_returns_values_is_refused_by_name():
    with pytest.raises(UnsupportedOperation, match=r"'pure_callback' at .*test_rf_empirical"):
        receptive_field(Opaque(Conv(1, 1, 1, 3, key=KEY)), (1, 32), method="empirical")
