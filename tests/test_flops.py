"""FLOPs (XLA's cost analysis) and memory, against figures derived by hand.

FLOPs. XLA counts a multiply-add as 2 FLOPs and one FLOP per element for an elementwise add or
max; padding, slicing, concatenation, transposes and copies count 0. So a convolution with
MACs = out_channels * in_channels/groups * prod(kernel) * prod(output spatial size) costs
2 * MACs, plus one FLOP per output element for the bias add:

    FLOPs = 2 * MACs + (out_channels * prod(output spatial) if bias else 0)

The compiled whole-network total equals that exactly (tolerance 0). Per-layer figures come
from each layer's program *lowered but not optimised*; there a zero-padded ("dirichlet") conv
carries one extra FLOP: `jnp.pad` converts its scalar pad value (an s32 -> f32 `convert`, one
FLOP), which the compiler constant-folds away. Hence a tolerance of exactly 1 FLOP for
per-layer rows of zero-padded convs, 0 otherwise.

Memory. Parameter bytes by dtype are exact; activation bytes are the outputs of every leaf
module call, times the batch; XLA's memory analysis of the forward program takes the
parameters and the batch as arguments, and of the training step additionally the targets.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import pytest
import yaml

from archinspect.analysis.shapes import leaf_paths
from archinspect.commands.inspect import inspect_report
from archinspect.errors import SpecError
from archinspect.layers.conv import Conv
from archinspect.spec import load_spec_text

_CACHE: dict[str, object] = {}


def report_of(model: dict, trusted=(), **inp):
    """The full report (compiled for the CPU), cached per spec within this module."""
    text = yaml.safe_dump({"model": model, "input": inp})
    if text not in _CACHE:
        spec = load_spec_text(text, "test.yaml")
        _CACHE[text] = inspect_report(spec, depth=None, platform="cpu", trusted=trusted)
    return _CACHE[text]


def conv_flops(
    ci: int, co: int, kernel: tuple[int, ...], out: tuple[int, ...], groups=1, bias=True
):
    macs = co * (ci // groups) * math.prod(kernel) * math.prod(out)
    return 2 * macs + (co * math.prod(out) if bias else 0)


def layer_flops(report) -> dict[str, int | None]:
    return {r.path: r.flops for r in report.layers}


# ---------------------------------------------------------------------------------------------
# A single convolution
# ---------------------------------------------------------------------------------------------

CONV = "archinspect.layers.conv:Conv"
CONV_CASES = [
    # kwargs of archinspect.layers.conv.Conv, resolution, output spatial size, kernel, groups
    pytest.param(
        dict(num_spatial_dims=2, in_channels=4, out_channels=6, kernel_size=3, stride=2, groups=2),
        [9, 7],
        (5, 4),  # ceil(9/2), ceil(7/2)
        (3, 3),
        2,
        id="2d-stride2-groups2",
    ),
    pytest.param(
        dict(
            num_spatial_dims=1,
            in_channels=3,
            out_channels=5,
            kernel_size=4,
            dilation=2,
            boundary_mode="neumann",
        ),
        [20],
        (20,),  # an even kernel, dilated: more padding, the same multiply-adds per output
        (4,),
        1,
        id="1d-even-kernel-dilated-reflect",
    ),
    pytest.param(
        dict(
            num_spatial_dims=3,
            in_channels=2,
            out_channels=3,
            kernel_size=[3, 1, 2],
            use_bias=False,
        ),
        [5, 4, 6],
        (5, 4, 6),
        (3, 1, 2),
        1,
        id="3d-anisotropic-kernel-no-bias",
    ),
]


@pytest.mark.parametrize(("kwargs", "res", "out", "kernel", "groups"), CONV_CASES)
def test_single_conv_is_two_macs_plus_bias(kwargs, res, out, kernel, groups):
    report = report_of({"target": CONV, **kwargs}, resolution=res)
    assert report.output_shape == (kwargs["out_channels"], *out)
    expected = conv_flops(
        kwargs["in_channels"],
        kwargs["out_channels"],
        kernel,
        out,
        groups=groups,
        bias=kwargs.get("use_bias", True),
    )
    assert report.flops.forward == expected  # tolerance 0: see the module docstring
    assert report.flops.method == "xla"
    assert report.layers[0].flops == expected  # the root row: the unoptimised whole program
    assert report.flops.analytic == expected  # periodic or reflect padding: the same figure


def test_hand_figures_of_the_conv_cases():
    """The formula, spelled out for the first case: 6 out, 4/2 in per group, 3x3, 5x4 out."""
    assert conv_flops(4, 6, (3, 3), (5, 4), groups=2) == 2 * (6 * 2 * 9 * 20) + 6 * 20 == 4440


def test_zero_padded_conv_per_layer_tolerance():
    """ConvNet with depth 0 is one conv. Zero padding: the compiled total is exact; the
    unoptimised per-layer program has the pad value's convert (1 FLOP) on top. Periodic and
    reflect padding need no tolerance at all (test_convnet_total_is_leaves_plus_relus).

    The root row was the compiled total, 1 FLOP *below* its only layer: a total under a part.
    It is now the unoptimised program of the whole network, the same kind as the layer rows,
    so it equals its one layer; the compiled figure stays `flops.forward`."""
    model = {
        "family": "ConvNet",
        "num_spatial_dims": 2,
        "in_channels": 3,
        "out_channels": 4,
        "depth": 0,
        "kernel_size": 3,
        "boundary_mode": "dirichlet",
    }
    report = report_of(model, resolution=12)
    expected = conv_flops(3, 4, (3, 3), (12, 12))
    assert expected == 2 * 15_552 + 576 == 31_680
    assert report.flops.forward == expected
    flops = layer_flops(report)
    assert expected <= flops["layers[0]"] <= expected + 1
    assert flops[""] == flops["layers[0]"] == report.flops.unoptimised
    assert report.flops.analytic == expected  # padding taps included, no convert


# ---------------------------------------------------------------------------------------------
# Dense layers
# ---------------------------------------------------------------------------------------------


def mlp(depth: int, width: int = 5):
    # 2 channels x 8 points in (16 features), 3 x 8 out (24 features)
    return {
        "family": "MLP",
        "num_spatial_dims": 1,
        "in_channels": 2,
        "out_channels": 3,
        "num_points": 8,
        "depth": depth,
        "width_size": width,
    }


def test_dense_layer_is_two_in_out_plus_out():
    report = report_of(mlp(0))
    assert report.flops.forward == 2 * 16 * 24 + 24 == 792
    assert layer_flops(report)["flat_mlp.layers[0]"] == 792


def test_two_dense_layers_and_a_relu():
    report = report_of(mlp(1))
    flops = layer_flops(report)
    assert flops["flat_mlp.layers[0]"] == 2 * 16 * 5 + 5  # 165
    assert flops["flat_mlp.layers[1]"] == 2 * 5 * 24 + 24  # 264
    # the ReLU between them is not a module: one max per hidden unit, counted in the total only
    assert report.flops.forward == 165 + 264 + 5
    assert flops["flat_mlp"] == flops[""] == 434


# ---------------------------------------------------------------------------------------------
# Batch size
# ---------------------------------------------------------------------------------------------


# 1-D ConvNet, 1 -> 4 -> 4 -> 1 channels, 3-taps, 10 cells, batch 4
MEM_CONVNET = {
    "family": "ConvNet",
    "num_spatial_dims": 1,
    "in_channels": 1,
    "out_channels": 1,
    "hidden_channels": 4,
    "depth": 2,
}
MEM_PARAMS = (4 * 1 * 3 + 4) + (4 * 4 * 3 + 4) + (1 * 4 * 3 + 1)  # 16 + 52 + 13 = 81
MEM_ARRAYS = 6  # a weight and a bias per conv
F32 = 4


def test_batch_size_scales_flops_exactly_linearly():
    one = report_of(MEM_CONVNET, resolution=10, batch_size=1)
    four = report_of(MEM_CONVNET, resolution=10, batch_size=4)
    assert four.flops.forward == 4 * one.flops.forward
    assert four.flops.per_sample == one.flops.per_sample == one.flops.forward
    assert (four.flops.batch_size, one.flops.batch_size) == (4, 1)
    # per-layer figures are per sample: unchanged by the batch size
    assert layer_flops(four) == layer_flops(one)
    assert four.memory.activation_bytes == 4 * one.memory.activation_bytes
    assert four.memory.param_bytes == one.memory.param_bytes
    assert four.memory.forward.output_bytes == 4 * one.memory.forward.output_bytes


# ---------------------------------------------------------------------------------------------
# Per-layer figures and the compiled total
# ---------------------------------------------------------------------------------------------

RESNET = dict(hidden_channels=4, num_blocks=1, use_norm=True)
FNO = dict(hidden_channels=2, num_blocks=1, num_modes=2)
FAMILIES = [
    ("ClassicResNet", RESNET),
    ("ClassicFNO", FNO),
    ("ConvNet", dict(hidden_channels=4, depth=3)),
]


def family_report(family: str, kwargs: dict, dims: int = 1):
    model = {"family": family, "num_spatial_dims": dims, "in_channels": 1, "out_channels": 1}
    return report_of({**model, **kwargs}, resolution=16)


@pytest.mark.parametrize(("family", "kwargs"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_leaf_layers_have_flops_and_add_up_to_about_the_total(family, kwargs):
    """Every leaf row (a module none of whose submodules was called) has its own figure.

    The sum of the leaves is below the compiled total, within 20%. The gap is (1) the work done
    outside any module: activations (ReLU 1 FLOP per element, GELU 9 in its tanh
    approximation), residual adds;
    (2) XLA's fusion: the total is the *optimised* program, in which an elementwise producer
    fused into several consumers is counted once per consumer (e.g. a conv's bias add and ReLU
    fused into both wrap-around slices of the next periodic pad), while each leaf is analysed
    alone and unoptimised. Convolutions dominate these networks, hence the 20% bound; the
    tightest case is the 2-channel FNO (16%: 1,952 in its leaves, 32 x (GELU 9 + add 1) = 320
    outside them).
    """
    report = family_report(family, kwargs)
    leaves = leaf_paths(list(report.layers))
    assert leaves and "" not in leaves
    for row in report.layers:
        assert row.flops is not None and row.flops > 0, row.path
    leaf_sum = sum(r.flops for r in report.layers if r.path in leaves)
    total = report.flops.forward
    assert leaf_sum <= total <= 1.2 * leaf_sum, (leaf_sum, total)


def test_convnet_total_is_leaves_plus_relus():
    """ConvNet(hidden 4, depth 3) in 1-D at 16 cells: 4 convs and 3 ReLUs of 4 x 16 elements.
    At this size XLA duplicates no fused work, so the decomposition is exact."""
    report = family_report("ConvNet", dict(hidden_channels=4, depth=3))
    flops = layer_flops(report)
    convs = [
        conv_flops(1, 4, (3,), (16,)),
        conv_flops(4, 4, (3,), (16,)),
        conv_flops(4, 4, (3,), (16,)),
        conv_flops(4, 1, (3,), (16,)),
    ]
    assert [flops[f"layers[{i}]"] for i in range(4)] == convs
    assert report.flops.forward == sum(convs) + 3 * 4 * 16 == 4_240


def test_fno_total_is_leaves_plus_gelu_and_add():
    """One SpectralBlock of 2 channels at 16 cells: act(spectral(x) + by_pass(x)); outside its
    modules, the add (1 FLOP) and the tanh-approximated GELU (9 FLOPs: x**3 as two
    multiplies, a scale, an add, a scale, tanh, +1, two multiplies) on 2 x 16 elements."""
    report = family_report("ClassicFNO", FNO)
    leaves = leaf_paths(list(report.layers))
    assert leaves == {"lifting", "blocks[0].spectral_conv", "blocks[0].by_pass_conv", "projection"}
    flops = layer_flops(report)
    assert flops["lifting"] == conv_flops(1, 2, (1,), (16,))
    assert flops["blocks[0].by_pass_conv"] == conv_flops(2, 2, (1,), (16,))
    assert flops["projection"] == conv_flops(2, 1, (1,), (16,))
    leaf_sum = sum(flops[p] for p in leaves)
    assert report.flops.forward == leaf_sum + 2 * 16 * (1 + 9)


def test_block_figure_is_its_layers_plus_its_elementwise_work():
    """ClassicResBlock, 4 channels, 16 cells (per-layer programs, unoptimised): its four
    layers, plus two ReLUs and the residual add outside them, 64 elements each."""
    report = family_report("ClassicResNet", RESNET)
    flops = layer_flops(report)
    conv = conv_flops(4, 4, (3,), (16,))
    assert flops["blocks[0].conv_1"] == flops["blocks[0].conv_2"] == conv == 1_600
    norms = flops["blocks[0].norm_1"] + flops["blocks[0].norm_2"]
    assert flops["blocks[0].norm_1"] == flops["blocks[0].norm_2"] > 0
    assert flops["blocks[0]"] == 2 * conv + norms + 3 * 64
    assert flops["lifting"] == conv_flops(1, 4, (1,), (16,))
    assert flops["projection"] == conv_flops(4, 1, (1,), (16,))


# ---------------------------------------------------------------------------------------------
# Modules called several times
# ---------------------------------------------------------------------------------------------


class TwoScaleNet(eqx.Module):
    """The same 3-conv applied at full resolution, then at every second cell."""

    conv: Conv

    def __init__(self, num_spatial_dims: int, in_channels: int, out_channels: int, *, key):
        self.conv = Conv(num_spatial_dims, in_channels, in_channels, 3, key=key)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.conv(self.conv(x)[:, ::2])


SHARED_1D = {"num_spatial_dims": 1, "in_channels": 4, "out_channels": 4}


def test_shared_module_flops_count_every_call():
    report = report_of(
        {"target": "tests.test_shapes:SharedNet", **SHARED_1D}, trusted=("tests",), resolution=[16]
    )
    conv = next(r for r in report.layers if r.path == "conv")
    assert conv.calls == 3
    assert conv.flops == 3 * conv_flops(4, 4, (3,), (16,))
    assert conv.params == 4 * 4 * 3 + 4  # once


def test_shared_module_called_on_different_shapes():
    report = report_of(
        {"target": "tests.test_flops:TwoScaleNet", **SHARED_1D}, trusted=("tests",), resolution=[16]
    )
    conv = next(r for r in report.layers if r.path == "conv")
    assert conv.calls == 2
    assert report.flops.forward == conv_flops(4, 4, (3,), (16,)) + conv_flops(4, 4, (3,), (8,))
    assert conv.flops == conv_flops(4, 4, (3,), (16,)) + conv_flops(4, 4, (3,), (8,))


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------


def test_memory_of_a_small_convnet_by_hand():
    report = report_of(MEM_CONVNET, resolution=10, batch_size=4)
    m = report.memory
    assert MEM_PARAMS == 81
    assert m.param_bytes == report.params.bytes == MEM_PARAMS * F32 == 324
    assert m.param_bytes_by_dtype == {"float32": 324}
    # leaf outputs: 4x10, 4x10, 1x10 floats per sample
    assert m.activation_bytes == (40 + 40 + 10) * F32 * 4 == 1_440
    batch_in = 4 * 1 * 10 * F32  # = batch_out, 160 bytes
    # forward(params, x): arguments are exactly the parameters and the input batch
    assert m.forward.argument_bytes == m.param_bytes + batch_in == 484
    assert m.forward.output_bytes == batch_in  # one output array, no tuple
    assert m.forward.alias_bytes == 0
    # step(params, x, y) -> (loss, grads): arguments add the targets
    assert m.train_step.argument_bytes == m.param_bytes + 2 * batch_in == 644
    # outputs: the f32 loss, one gradient per parameter array (the parameters' bytes), and the
    # output tuple's index table XLA allocates on the CPU, one 8-byte pointer per element
    assert m.train_step.output_bytes >= 4 + m.param_bytes
    assert m.train_step.output_bytes == 4 + m.param_bytes + 8 * (1 + MEM_ARRAYS) == 384
    assert m.train_step.peak_bytes == (
        m.train_step.argument_bytes + m.train_step.output_bytes + m.train_step.temp_bytes
    )


def test_memory_with_complex_parameters():
    """1-D FNO, hidden 2, 2 modes, one block, 16 cells: lifting 1->2 (4), spectral (1, 2, 2, 2)
    complex64 (8 elements, 64 bytes, 16 real parameters), by-pass 2->2 (6), projection 2->1
    (3)."""
    report = family_report("ClassicFNO", FNO)
    m = report.memory
    assert report.params.total == 4 + 16 + 6 + 3
    assert m.param_bytes_by_dtype == {"float32": 13 * F32, "complex64": 8 * 8}
    assert m.param_bytes == report.params.bytes == 116
    # leaves: lifting 2x16, spectral_conv 2x16, by_pass_conv 2x16, projection 1x16
    assert m.activation_bytes == (32 + 32 + 32 + 16) * F32 == 448
    batch = 1 * 16 * F32
    assert m.forward.argument_bytes == 116 + batch
    assert m.forward.output_bytes == batch
    assert m.train_step.argument_bytes == 116 + 2 * batch
    # 7 parameter arrays (w, b, spectral, w, b, w, b); the complex gradient is complex64
    assert m.train_step.output_bytes == 4 + 116 + 8 * (1 + 7)


def test_activation_bytes_count_every_call_of_a_shared_module():
    report = report_of(
        {"target": "tests.test_shapes:SharedNet", **SHARED_1D}, trusted=("tests",), resolution=[16]
    )
    # conv called 3 times (4x16 each), head once (4x16)
    assert report.memory.activation_bytes == (3 + 1) * 4 * 16 * F32


def test_float64_input_for_a_family_is_refused_with_a_located_message():
    """Without care JAX would canonicalise a float64 input to float32 and report the wrong
    bytes; the built-in families' weights are float32, so another input dtype is refused."""
    model = {**MEM_CONVNET, "depth": 0}
    text = yaml.safe_dump({"model": model, "input": {"resolution": 10, "dtype": "float64"}})
    with pytest.raises(SpecError, match="must be 'float32' for the built-in families") as exc:
        load_spec_text(text, "test.yaml")
    assert "input.dtype" in str(exc.value)


def test_float64_input_of_a_target_is_analysed_in_float64():
    """JAX would canonicalise a float64 input to float32 unless x64 is on: it is, for the
    analysis. eqx.nn.Identity has no weights, so the arguments are the 8 float64 cells."""
    text = yaml.safe_dump(
        {
            "model": {"target": "equinox.nn.Identity"},
            "input": {"resolution": [8], "channels": 1, "dtype": "float64"},
        }
    )
    report = inspect_report(load_spec_text(text, "t.yaml"), depth=None, platform="cpu")
    assert report.output_shape == (1, 8)
    assert report.memory.forward.argument_bytes == 8 * 8
    assert report.memory.activation_bytes == 8 * 8  # the root is the only (leaf) module
