"""The memory estimate of the real-array commands (archinspect.analysis.footprint; README
"Memory limits of real-array commands"): byte figures worked out by hand from the programs'
shapes, and refusals made before any weight is allocated, shown under an address-space limit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from typer.testing import CliRunner

from archinspect.analysis.footprint import PROGRAM_BYTES_PER_EQUATION, program_sizes, weight_bytes
from archinspect.cli import app
from archinspect.commands.init import init_report
from archinspect.errors import UsageError
from archinspect.spec import load_spec
from tests.test_bounded import limited

runner = CliRunner()


def test_program_sizes_count_every_value_and_equation_nested_ones_included():
    def f(x, w):
        y = jnp.sin(x)  # (4, 5): 20 values
        z = jax.jit(lambda a: a @ w)(y)  # the jit's output is its dot_general's (4, 3)
        return jax.jit(lambda a: a)(z * 2.0)  # (4, 3), then an identity call: no new value

    closed = jax.make_jaxpr(f)(jnp.zeros((4, 5)), jnp.zeros((5, 3)))
    # sin, jit, dot_general (inside the jit), mul, jit: 5 equations; 20 + 12 + 12 = 44 values
    # (a call's outputs are its body's, counted once)
    assert program_sizes(closed) == (44 * 4, 5)  # float32
    assert program_sizes(closed, float64=True) == (44 * 8, 5)


def test_weight_bytes_of_abstract_leaves_and_their_float64_copy():
    tree = {
        "w": jax.ShapeDtypeStruct((3, 4), jnp.float32),
        "c": jax.ShapeDtypeStruct((2, 2), jnp.complex64),
        "i": jax.ShapeDtypeStruct((5,), jnp.int32),
    }
    # as stored: 12 * 4 + 4 * 8 + 5 * 4; the largest float64 draw: w, 12 * 8 (c: 4 * 16 = 64)
    assert weight_bytes(tree) == (12 * 4 + 4 * 8 + 5 * 4, 12 * 8)
    # float64 copy: reals 8 bytes, complex 16, integers kept
    assert weight_bytes(tree, float64=True) == (12 * 8 + 4 * 16 + 5 * 4, 12 * 8)


def test_empirical_refusal_names_every_part_worked_out_by_hand(repo_root):
    # configs/convnet.yaml: 1-D, h = 16, depth 10, k = 3, 256 cells: 11 convs 1->16, 9 x 16->16,
    # 16->1; parameters 27 h^2 + 16 h + 1 = 7,169, float64 in the positive copy
    weights = 8 * (27 * 16**2 + 16 * 16 + 1)
    assert weights == 57_352
    largest = 8 * 16 * 16 * 3  # a hidden conv's kernel
    # The copy's program per conv (c_in -> c_out, n = 256 cells): a periodic pad (a jit
    # holding two 1-cell slices and a concatenation: 2 c_in + 258 c_in, the jit's output is
    # the concatenation's), a broadcast (c_in x 258), the conv, a squeeze and the bias add
    # (c_out x 256 each): 8 equations and 518 c_in + 768 c_out values; then the activation,
    # cut to an identity called under jit: 1 equation, no new value.
    c_in = 1 + 9 * 16 + 16
    c_out = 16 + 9 * 16 + 1
    values = 8 * (518 * c_in + 768 * c_out) + 8 * 256  # + the input
    assert values == 1_658_416
    equations = 9 * 11
    # 1-D without a stride: 16 cotangents per pass, the forward pass once more
    total = 2 * weights + 17 * values + 2 * largest + equations * PROGRAM_BYTES_PER_EQUATION
    assert PROGRAM_BYTES_PER_EQUATION == 160 * 1024
    result = runner.invoke(
        app, ["rf", "configs/convnet.yaml", "--method", "empirical", "--max-memory", "1Mi"]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: receptive field (empirical): measuring on an input of (256,) cells needs about "
        f"42.5 MiB in float64 ({total:,} bytes: 2 × {weights:,} bytes of weights, 17 × "
        f"{values:,} bytes of values (the forward pass and 16 cotangents), {2 * largest:,} "
        f"bytes to draw the largest weight, {equations} program equations × 163,840 bytes), "
        "beyond this method's limits (4,194,304 cells; --max-memory 1,048,576 bytes); lower "
        "the model's widths and depth or raise --max-memory, or use the structural method\n"
    )
    assert total == 44_540_224 and total / 2**20 == pytest.approx(42.5, abs=0.05)


def test_init_estimate_includes_the_compiled_program(repo_root):
    # configs/deep_relu_convnet.yaml: 2-D, 1 -> 32 -> ... -> 1 channels, depth D = 30, 3x3
    # kernels, 16x16, float32; parameters: lifting 32 * 9 + 32, D - 1 hidden 32 * 32 * 9 + 32,
    # projection 32 * 9 + 1
    d = 30
    params = (32 * 9 + 32) + (d - 1) * (32 * 32 * 9 + 32) + (32 * 9 + 1)
    assert params == 268_801
    weights = 4 * params
    # one pass: the input and each conv's output (D with 32 channels, one with 1), float32
    per_pass = 4 * 16 * 16 + d * 4 * 32 * 16 * 16 + 4 * 16 * 16
    # per conv + relu: the periodic pad's jit with 4 slices and 2 concatenations (7), a
    # broadcast, the conv, a squeeze, the bias add, the relu under jax.jit (that jit,
    # custom_jvp, its jit, max: 4); the last conv has the identity under jax.jit instead (1):
    # 15 D + 12
    equations = 15 * d + 12
    largest = 8 * 32 * 32 * 9  # a hidden kernel, drawn in float64
    batch = 8
    total = (
        3 * weights
        + 4 * (batch + 1) * per_pass
        + 2 * largest
        + equations * PROGRAM_BYTES_PER_EQUATION
    )
    spec = load_spec("configs/deep_relu_convnet.yaml")
    with pytest.raises(UsageError, match=r"archinspect init needs about [\d,]+ bytes") as caught:
        init_report(spec, max_bytes=total - 1)
    assert caught.value.message == (
        f"error: configs/deep_relu_convnet.yaml: archinspect init needs about {total:,} bytes "
        f"({total / 2**20:.1f} MiB: 3 × {weights:,} bytes of weights, 36 × {per_pass:,} bytes "
        "of values (the activations and their gradients for 9 inputs of 1×16×16), "
        f"{2 * largest:,} bytes to draw the largest weight, {equations:,} program equations × "
        f"163,840 bytes), above the limit of {total - 1:,} bytes; lower --batch, "
        "input.resolution or the model's widths and depth, or raise --max-memory"
    )


def test_equivariance_estimate_counts_the_parameters_count_reports(repo_root):
    from archinspect.analysis.equivariance import estimate
    from archinspect.analysis.params import module_rows
    from archinspect.build import build_abstract

    spec = load_spec("configs/gcnn_c4.yaml")
    model = build_abstract(spec)
    cost = estimate(model, spec.input_shape, spec.input.dtype, 4)
    _, leaves = module_rows(model)  # the parameter count's own reading of the tree
    assert cost.weights == sum(leaf.bytes for leaf in leaves)
    assert (cost.weight_copies, cost.passes) == (2, 3 * (4 + 1))


def test_empirical_refuses_before_drawing_weights_under_an_address_space_limit():
    # hidden_channels 10^4: 27 h^2 + 16 h + 1 parameters, 8 bytes each in the float64 copy
    # (21.6 GB: was a 2.4 GB numpy draw, then minutes of work at 16 GB)
    h = 10_000
    weights = 8 * (27 * h * h + 16 * h + 1)
    assert weights == 21_601_280_008
    result = limited(
        "rf",
        "configs/convnet.yaml",
        "--method",
        "empirical",
        "--set",
        f"model.hidden_channels={h}",
    )
    assert result.returncode == 2, result.stderr
    assert f"2 × {weights:,} bytes of weights" in result.stderr
    assert "--max-memory 4,294,967,296 bytes); lower the model's widths and depth" in (
        result.stderr
    )
    assert "out of memory" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_init_at_depth_3000_is_refused_for_its_program_before_compiling():
    # Depth 3000 compiled grew about 1.5 MB per layer beyond the old estimate and passed 4 GiB;
    # its program alone is 15 * 3000 + 12 equations (see the test above) x 160 KiB = 7.4 GB
    equations = 15 * 3000 + 12
    assert equations * PROGRAM_BYTES_PER_EQUATION == 7_374_766_080
    result = limited("init", "configs/deep_relu_convnet.yaml", "--set", "model.depth=3000")
    assert result.returncode == 2, result.stderr
    assert f"{equations:,} program equations × 163,840 bytes" in result.stderr
    assert "above the limit of 4,294,967,296 bytes" in result.stderr
    assert "out of memory" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_fourteen_level_unet_is_refused_before_drawing_weights():
    # A 1-D ClassicUNet of 14 levels on 2^14 cells: the bottom level has 16 * 2^14 = 2^18
    # channels, a 3-kernel there is 2^18 x 2^18 x 3 float64s (1.6 TB; numpy used to try the
    # first big kernels, 2^14 x 2^14 x 3 = 6 GiB, and run out of memory)
    largest = 8 * (16 * 2**14) ** 2 * 3
    assert largest == 1_649_267_441_664
    result = limited(
        "rf",
        "configs/unet.yaml",
        "--method",
        "empirical",
        "--set",
        "model.num_levels=14",
        "--set",
        "model.num_spatial_dims=1",
        "--set",
        "input.resolution=16384",
    )
    assert result.returncode == 2, result.stderr
    assert "measuring on an input of (16384,) cells needs about" in result.stderr
    assert f"{2 * largest:,} bytes to draw the largest weight" in result.stderr
    assert "--max-memory 4,294,967,296 bytes); lower the model's widths and depth" in (
        result.stderr
    )
    assert "out of memory" not in result.stderr and "Traceback" not in result.stderr
