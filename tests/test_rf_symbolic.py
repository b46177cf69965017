"""The structural receptive field at a cost independent of the input's size (README, "Exact
receptive fields"): zero insertion and padding keep dependency tables factorised (one table
per axis, as long as that axis), and the analysis starts from at most 256 cells per axis.

Memory is asserted, not time: each large case runs in a subprocess whose address space is
limited (`resource.setrlimit(RLIMIT_AS)`). JAX cannot start under a bare 1 GB limit (measured:
the import alone peaks at about 450 MB of address space, and the XLA client then aborts with
"cannot allocate memory for thread-local data"), so the limit is the subprocess's address
space once JAX has started (the floor) plus 1 GiB.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from archinspect.analysis.receptive_field.rules.tables import Val
from archinspect.analysis.receptive_field.structural import TablesTooLarge
from tests.rf_oracle import oracle, structural

_LIMITED = """
import resource, sys
import jax, jax.numpy as jnp
jax.jit(lambda x: x + 1)(jnp.ones(2)).block_until_ready()  # the backend and its threads
size = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize"))
limit = size * 1024 + (1 << 30)  # the floor plus 1 GiB
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
"""


def _run_limited(body: str) -> subprocess.CompletedProcess:
    code = _LIMITED + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)


def _up2(x):
    """A stride-2 transposed convolution done by hand: zero insertion (pad 1 before, 2 after,
    interior 1), then a 3-tap convolution, on every spatial axis: n cells become 2n."""
    c = x.shape[0]
    pad = [(0, 0, 0)] + [(1, 2, 1)] * (x.ndim - 1)
    z = lax.pad(x, jnp.zeros((), x.dtype), pad)
    w = jnp.ones((c, c) + (3,) * (x.ndim - 1), x.dtype)
    return lax.conv_general_dilated(z[None], w, (1,) * (x.ndim - 1), "VALID")[0]


def test_zero_insertion_is_exact_and_factorised(monkeypatch):
    # Fine cell p sits at p / 2 (README, "Receptive fields across grids") and reads dilated
    # cells p .. p + 2, of which the odd ones j hold coarse cell (j - 1) / 2: p = 2m reads
    # coarse m only (0 back, 0 forward), p = 2m + 1 reads m and m + 1 from m + 1/2 (1/2 back,
    # 1/2 forward). Per axis (1/2, 1/2), ranging over (0, 1/2) both ways.
    shape = (1, 16, 16)
    got = structural(_up2, shape)
    half = ((0.5, 0.5), ((0, 0.5), (0, 0.5)))
    assert (got.per_axis, got.position_range) == oracle(_up2, shape)
    assert (got.per_axis, got.position_range) == tuple(zip(half, half, strict=True))
    # The padded value's tables stay one axis long (their holes are the support's masks).
    from archinspect.analysis.receptive_field.rules import movement

    seen: list[Val] = []
    pad_rule = movement._pad

    def spy(eqn, ins, ctx):
        out = pad_rule(eqn, ins, ctx)
        seen.extend(out)
        return out

    from archinspect.analysis.receptive_field.rules.registry import RULES, SUPPORT_RULES

    monkeypatch.setitem(RULES, lax.pad_p, spy)
    SUPPORT_RULES.add(spy)
    try:
        structural(_up2, shape)
    finally:
        SUPPORT_RULES.discard(spy)
    assert seen
    for v in seen:
        for t in (*v.lo, *v.hi):
            assert sum(n > 1 for n in t.shape) <= 1, t.shape
        assert v.support is not None
        # 16 coarse cells, interior 1, 1 before and 2 after: 1 + 16 + 15 + 2 = 34 cells, the
        # odd ones 1 .. 31 source cells.
        source = [i % 2 == 1 and i <= 31 for i in range(34)]
        assert [m.tolist() for m in v.support[1:]] == [source] * 2


def test_analysed_input_does_not_grow_with_the_requested_one():
    # A 1-D stack of three 3-tap convolutions: (3, 3) whatever the grid (1 cell each way per
    # layer); the analysis starts at min(n, 256) cells, so 10**6 and 10**9 cells analyse the
    # same 256, and 64 cells themselves.
    def fn(x):
        w = jnp.ones((1, 1, 3), x.dtype)
        for _ in range(3):
            x = lax.conv_general_dilated(x[None], w, (1,), "SAME")[0]
        return x

    small, large, huge = (structural(fn, (1, n)) for n in (64, 10**6, 10**9))
    assert small.per_axis == large.per_axis == huge.per_axis == ((1 + 1 + 1, 1 + 1 + 1),)
    assert small.per_axis == oracle(fn, (1, 64))[0]
    assert large.analysed_shape == huge.analysed_shape == (1, 256)
    assert small.analysed_shape == (1, 64)


def test_whole_axis_is_the_requested_axis():
    # A cumulative sum over space reports the axis's length (README convention): that of the
    # requested input, 1000, not of the smaller input the analysis starts from.
    got = structural(lambda x: jnp.cumsum(x, axis=1), (1, 1000))
    assert (got.per_axis, got.analysed_shape) == (((1000, 1000),), (1, 1000))


@pytest.mark.slow
def test_unet_3d_at_512_cubed_under_an_address_space_limit():
    # The default 3-D ClassicUNet (4 levels) at 64^3 and 512^3: the same field and the same
    # analysed input (256^3: grown from the start until interior cells cover the period 16),
    # with the address space bounded by the floor + 1 GiB. Before, 64^3 took 1.6 GB of RSS.
    result = _run_limited(
        """
        from archinspect.build import build_abstract
        from archinspect.spec.load import load_spec_text
        from archinspect.analysis.receptive_field.structural import structural_receptive_field
        out = []
        for n in (64, 512):
            spec = load_spec_text(
                "model: {family: ClassicUNet, num_spatial_dims: 3, in_channels: 1, "
                "out_channels: 1, hidden_channels: 16, num_levels: 4}\\n"
                f"input: {{resolution: {n}}}\\n", "unet3d.yaml")
            rf = structural_receptive_field(build_abstract(spec), (1, n, n, n))
            out.append((rf.per_axis, rf.analysed_shape))
        print(out)
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # 4 levels: the field is 122 cells each way (tests/test_rf_agreement.py checks the
    # same network against the empirical method), per axis and at both sizes.
    field = ((122, 122),) * 3
    assert result.stdout.strip() == str([(field, (1, 256, 256, 256))] * 2)


def test_shapes_of_a_billion_cells_under_an_address_space_limit(tmp_path):
    # Four 3-tap convolutions (ConvNet depth 3: lifting + 3) reach 4 cells each way; at 10**9
    # cells a dense table would take 4 GB alone.
    spec = tmp_path / "conv.yaml"
    spec.write_text(
        "model: {family: ConvNet, num_spatial_dims: 1, in_channels: 1, out_channels: 1,\n"
        "        hidden_channels: 8, depth: 3}\ninput: {resolution: 1000000000}\n"
    )
    result = _run_limited(
        f"""
        import runpy
        sys.argv = ["archinspect", "shapes", {str(spec)!r}, "--format", "json"]
        runpy.run_module("archinspect", run_name="__main__")
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"per_axis": [\n      [\n        4,\n        4\n      ]' in result.stdout or (
        '"per_axis": [[4, 4]]' in result.stdout
    ), result.stdout[-1500:]


def test_a_function_of_fixed_size_is_refused_before_tracing_its_size():
    # x + a constant of the requested shape takes no other input: the analysis would have to
    # run at 10**5 x 10**5 cells, 2 tables (lo, hi) x 2 axes x 10**10 cells x 4 bytes.
    n = 10**5
    need = 2 * 2 * n * n * 4

    def fn(x):
        return x + jnp.zeros((1, n, n), x.dtype)

    with pytest.raises(TablesTooLarge, match=rf"at least 149\.0 GiB \({need:,} bytes\)"):
        structural(fn, (1, n, n))


@pytest.mark.slow
def test_a_model_of_fixed_size_is_refused_before_allocating(tmp_path):
    # An MLP over 10**5 x 10**5 points accepts no other input; the structural method would
    # need a lo and a hi table per axis over every cell: 2 * 2 * 10**10 * 4 bytes = 1.6e11
    # bytes (149.0 GiB), above the 4 GiB limit.
    spec = tmp_path / "mlp.yaml"
    spec.write_text(
        "model: {family: MLP, num_spatial_dims: 2, in_channels: 1, out_channels: 1,\n"
        "        num_points: 100000, width_size: 8, depth: 1}\n"
    )
    result = _run_limited(
        f"""
        import runpy
        for command in ("rf", "shapes"):
            sys.argv = ["archinspect", command, {str(spec)!r}]
            try:
                runpy.run_module("archinspect", run_name="__main__")
            except SystemExit as exc:
                print("exit", command, exc.code, flush=True)
        """
    )
    need = 2 * 2 * 10**10 * 4
    refusal = f"at least 149.0 GiB ({need:,} bytes)"
    assert np.isclose(need / 2**30, 149.0, atol=0.05)
    # rf refuses (exit 2, the error on stderr); shapes keeps its table and says it in a note.
    assert "exit rf 2" in result.stdout, result.stderr[-2000:]
    assert "exit shapes 0" in result.stdout or "exit shapes None" in result.stdout, result.stdout
    assert refusal in result.stderr
    assert refusal in " ".join(result.stdout.split()).replace("( ", "(")
    assert "Traceback" not in result.stderr


def test_max_memory_bounds_the_analysis_of_the_requested_size(tmp_path):
    # An MLP over 1000 points takes no input of the 256 cells the analysis starts from, so the
    # requested 1000 are analysed: a lo and a hi table over 1000 cells of float32, 2 * 1000 * 4
    # = 8,000 bytes. --max-memory 4Ki (4,096 bytes) refuses that, naming both; the default
    # (4 GiB) measures it: the dense layer's field is the number of points, (1000, 1000).
    from typer.testing import CliRunner

    from archinspect.cli import app

    spec = tmp_path / "mlp.yaml"
    spec.write_text(
        "model: {family: MLP, num_spatial_dims: 1, in_channels: 1, out_channels: 1,\n"
        "        num_points: 1000, width_size: 4, depth: 1}\n"
    )
    runner = CliRunner()
    need = 2 * 1000 * 4
    refused = runner.invoke(app, ["rf", str(spec), "--max-memory", "4Ki", "-f", "json"])
    assert refused.exit_code == 2, refused.output
    message = " ".join(refused.stderr.split())
    assert f"at least 0.0 GiB ({need:,} bytes) of dependency tables" in message
    assert "above the memory limit of 4,096 bytes (--max-memory)" in message
    assert "Traceback" not in refused.output
    measured = runner.invoke(app, ["rf", str(spec), "-f", "json"])
    assert measured.exit_code == 0, measured.output
    assert '"per_axis": [\n      [\n        1000,\n        1000\n      ]\n    ]' in measured.stdout
    # count --rf keeps its table and says why the field is missing in a note (exit 0).
    counted = runner.invoke(app, ["count", str(spec), "--rf", "--max-memory", "4Ki"])
    assert counted.exit_code == 0, counted.output
    assert "receptive field not available" in counted.stdout
    assert f"({need:,} bytes)" in " ".join(counted.stdout.split())
