"""`archinspect equivariance` (README "Group-equivariant CNNs"): passing for odd kernels with
SAME, VALID and CIRCULAR padding, failing and diagnosed for an even kernel with SAME padding,
a plain layer named by path, strides and input parity, and the memory limit.

The oracle for the group action is written here independently: numpy's rot90 and a left-right
flip on the last two axes, and the orientation permutation found by acting on an asymmetric
array (not archinspect.groups)."""

from __future__ import annotations

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from archinspect.cli import app
from archinspect.commands.equivariance import equivariance_report
from archinspect.errors import UsageError
from archinspect.layers.group_conv import GroupConv, LiftingConv
from archinspect.spec.load import load_spec_text

runner = CliRunner()


def spec_of(resolution: int, target: bool = False, **model):
    base = {} if target else {"family": "GroupCNN", "num_spatial_dims": 2}
    model = {**base, **model}
    return load_spec_text(
        f"model: {json.dumps(model)}\ninput: {{resolution: {resolution}}}\n", "test.yaml"
    )


def gcnn(resolution: int, **model):
    args = {"in_channels": 2, "hidden_channels": [3], "out_channels": 2, **model}
    return equivariance_report(spec_of(resolution, **args))


@pytest.mark.parametrize(
    ("group", "kernel_size", "padding", "resolution"),
    [
        ("C4", 3, "SAME", 8),
        ("D4", 3, "SAME", 7),
        ("C4", 5, "VALID", 9),  # 9 -> 5 -> 1
        ("D4", 3, "CIRCULAR", 6),
        ("C4", 2, "VALID", 3),  # the even kernel passes with VALID on 3x3: 3 -> 2 -> 1
    ],
)
def test_passes(group, kernel_size, padding, resolution):
    report = gcnn(resolution, group=group, kernel_size=kernel_size, padding=padding)
    assert report.ok
    assert len(report.per_element) == (4 if group == "C4" else 8)
    assert report.max_relative <= 1e-5
    assert report.orientation_axis == 0 and report.packed
    assert report.causes == ()


def test_pooled_output_is_invariant_to_orientations():
    report = gcnn(7, group="D4", pool_orientations="mean")
    assert report.ok and report.orientation_axis is None and report.output_shape == (2, 7, 7)


def test_even_kernel_same_fails_and_is_diagnosed():
    report = gcnn(2, group="C4", kernel_size=2, padding="SAME")
    assert not report.ok
    # the identity always agrees; some rotation is off by far more than rounding
    assert report.per_element[0].absolute == 0.0
    assert report.max_relative > 1e-2
    message = (
        "the conv's effective kernel 2 is even, so SAME padding is asymmetric (0 before, 1 "
        "after) and moves the rotation centre by half a cell; use an odd kernel, or VALID padding"
    )
    assert [(c.kind, c.path, c.message) for c in report.causes] == [
        ("even_kernel_same", "lifting", f"lifting: {message}"),
        ("even_kernel_same", "layers[0]", f"layers[0]: {message}"),
    ]


def test_even_kernel_circular_is_diagnosed():
    report = gcnn(4, kernel_size=2, padding="CIRCULAR")
    assert not report.ok
    assert {(c.kind, c.path) for c in report.causes} == {
        ("even_kernel_circular", "lifting"),
        ("even_kernel_circular", "layers[0]"),
    }


# --- the oracle: the errors, recomputed independently -----------------------------------------


def _act(a, turns, mirrored):
    if mirrored:
        a = a[..., :, ::-1]
    return np.rot90(a, turns, axes=(-2, -1))


@pytest.mark.parametrize(
    ("group", "kernel_size", "n"),
    [("D4", 3, 5), ("C4", 2, 2)],  # equivariant; and broken (even kernel, SAME)
)
def test_errors_match_an_independent_computation(group, kernel_size, n):
    """Recompute every element's error from the same seeded weights and input."""
    from archinspect.build import build_abstract
    from archinspect.commands.equivariance import seeded

    order = 4 if group == "C4" else 8
    spec = spec_of(
        n,
        group=group,
        kernel_size=kernel_size,
        in_channels=2,
        hidden_channels=[3],
        out_channels=2,
    )
    model = eqx.filter_jit(seeded(build_abstract(spec), 0))
    x = np.random.default_rng([0, 1]).standard_normal((2, n, n)).astype(np.float32)
    y = np.asarray(model(jnp.asarray(x)), np.float64).reshape(2, order, n, n)
    elements = [(t, 0) for t in range(4)] + [(t, 1) for t in range(4)][: order - 4]
    probe = np.arange(9.0).reshape(3, 3)
    images = [_act(probe, *e) for e in elements]

    def index(a):
        return next(i for i, b in enumerate(images) if np.array_equal(a, b))

    report = equivariance_report(spec)
    for g, (turns, mirrored) in enumerate(elements):
        inv = next(
            i for i in range(order) if index(_act(_act(probe, *elements[i]), turns, mirrored)) == 0
        )
        # orientation h of the transformed output is orientation g^-1 h of the output
        perm = [index(_act(_act(probe, *elements[h]), *elements[inv])) for h in range(order)]
        moved = np.asarray(model(jnp.asarray(_act(x, turns, mirrored).copy())), np.float64)
        want = _act(y[:, perm], turns, mirrored)
        absolute = np.abs(moved.reshape(2, order, n, n) - want).max()
        assert report.per_element[g].absolute == pytest.approx(absolute, rel=1e-4, abs=1e-6)
        assert report.per_element[g].relative == pytest.approx(
            absolute / np.abs(y).max(), rel=1e-4, abs=1e-6
        )
    assert report.ok is (kernel_size % 2 == 1)


# --- any Equinox module through target: -------------------------------------------------------


class Mixed(eqx.Module):
    """A lifting conv, then a plain 1x1 conv over the orientation channels: not equivariant."""

    lifting: LiftingConv
    mix: eqx.nn.Conv2d

    def __init__(self, *, key):
        k1, k2 = jax.random.split(key)
        self.lifting = LiftingConv("C4", 1, 2, 3, key=k1)
        self.mix = eqx.nn.Conv2d(8, 8, 1, key=k2)

    def __call__(self, x):
        return self.mix(self.lifting(x))


class Pure(eqx.Module):
    lifting: LiftingConv
    group: GroupConv

    def __init__(self, *, key):
        k1, k2 = jax.random.split(key)
        self.lifting = LiftingConv("C4", 1, 2, 3, key=k1)
        self.group = GroupConv("C4", 2, 2, 3, key=k2)

    def __call__(self, x):
        return self.group(jax.nn.relu(self.lifting(x)))


class Unpacked(eqx.Module):
    """A D4 lifting conv whose output is (C, S, H, W): orientations on an axis of their own."""

    lifting: LiftingConv

    def __init__(self, *, key):
        self.lifting = LiftingConv("D4", 1, 2, 3, key=key)

    def __call__(self, x):
        y = self.lifting(x)
        return y.reshape(2, 8, *y.shape[1:])


class Strided(eqx.Module):
    """A plain max pool, window 2, stride 2 over space, after a lifting conv."""

    lifting: LiftingConv

    def __init__(self, *, key):
        self.lifting = LiftingConv("C4", 1, 1, 3, key=key)

    def __call__(self, x):
        pool = eqx.nn.MaxPool2d(2, 2)
        return pool(self.lifting(x))


class SameStrided(eqx.Module):
    conv: eqx.nn.Conv2d

    def __init__(self, *, key):
        self.conv = eqx.nn.Conv2d(1, 1, 3, stride=2, padding="SAME", key=key)

    def __call__(self, x):
        return self.conv(x)


def _target(name: str, resolution: int, **kwargs):
    spec = load_spec_text(
        f"model: {{target: 'tests.test_equivariance:{name}'}}\n"
        f"input: {{resolution: [{resolution}, {resolution}], channels: 1}}\n",
        "t.yaml",
    )
    return equivariance_report(spec, ("tests",), **kwargs)


def test_target_with_orientation_axis_passes():
    report = _target("Pure", 6, group="C4", orientation_axis=0)
    assert report.ok and report.family == "tests.test_equivariance:Pure"


def test_orientation_axis_of_its_own():
    report = _target("Unpacked", 5, group="D4", orientation_axis=1)
    assert report.ok and not report.packed and report.output_shape == (2, 8, 5, 5)
    # the same output read as if it had no orientations fails: the channels must permute
    assert not _target("Unpacked", 5, group="D4", orientation_axis=None).ok


def test_plain_layer_named_by_path():
    report = _target("Mixed", 6, group="C4", orientation_axis=0)
    assert not report.ok
    assert [(c.kind, c.path) for c in report.causes] == [("plain_layer", "mix")]
    assert report.causes[0].message == (
        "mix (Conv2d) is not a group convolution: a plain filter or matrix mixes orientations "
        "and looks in fixed directions"
    )


def test_stride_that_does_not_divide_the_input():
    # max pool window 2 stride 2 on 7 cells: 7 - 2 = 5 is odd, the last cell is never pooled
    report = _target("Strided", 7, group="C4", orientation_axis=0)
    assert not report.ok
    assert [c.kind for c in report.causes] == ["stride"]
    assert "stride 2 does not divide 7 + 0 + 0 - 2 = 5 cells" in report.causes[0].message
    assert _target("Strided", 8, group="C4", orientation_axis=0).ok  # 8 - 2 = 6: divides


def test_input_parity_with_a_strided_same_conv():
    # SAME, kernel 3, stride 2 on 8 cells: out 4, total pad (4 - 1) * 2 + 3 - 8 = 1 -> (0, 1)
    report = _target("SameStrided", 8, orientation_axis=None)
    assert not report.ok
    kinds = [(c.kind, c.path) for c in report.causes]
    assert kinds == [("input_parity", "conv"), ("plain_layer", "conv")]
    # on 7 cells: out 4, total pad 3 * 2 + 3 - 7 = 2 -> (1, 1), symmetric; 7 + 2 - 3 = 6 divides
    assert _target("SameStrided", 7, orientation_axis=None).ok is False  # a plain conv still
    assert [c.kind for c in _target("SameStrided", 7, orientation_axis=None).causes] == [
        "plain_layer"
    ]


# --- refusals -----------------------------------------------------------------------------------


def test_memory_limit_refuses_with_the_size():
    with pytest.raises(
        UsageError, match=r"the check needs about [\d,]+ bytes .* above the limit of 1,000 bytes"
    ):
        equivariance_report(
            spec_of(8, in_channels=1, hidden_channels=[2], out_channels=1), max_bytes=1000
        )


def test_non_square_input_refused():
    spec = load_spec_text(
        "model: {family: GroupCNN, num_spatial_dims: 2, in_channels: 1, out_channels: 1}\n"
        "input: {resolution: [8, 6]}\n",
        "r.yaml",
    )
    with pytest.raises(
        UsageError, match=r"must be one channels-first square image \(C, N, N\), got 1×8×6$"
    ):
        equivariance_report(spec)


def test_cli_exit_codes_and_json(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(
        "model: {family: GroupCNN, num_spatial_dims: 2, in_channels: 2, hidden_channels: [3],"
        " out_channels: 2, kernel_size: 2}\ninput: {resolution: 2}\n"
    )
    failed = runner.invoke(app, ["equivariance", str(path), "-f", "json"])
    assert failed.exit_code == 1, failed.output
    data = json.loads(failed.stdout)
    assert data["ok"] is False and len(data["per_element"]) == 4
    assert data["max_error"]["relative"] == max(e["relative"] for e in data["per_element"])
    assert [c["kind"] for c in data["causes"]] == ["even_kernel_same", "even_kernel_same"]
    passed = runner.invoke(
        app,
        [
            "equivariance",
            str(path),
            "--set",
            "model.padding=VALID",
            "--set",
            "input.resolution=3",
            "-f",
            "json",
        ],
    )
    assert passed.exit_code == 0, passed.output
    assert json.loads(passed.stdout)["causes"] == []
    bad = runner.invoke(app, ["equivariance", str(path), "--group", "C3"])
    assert bad.exit_code == 2
    assert bad.stderr == "error: --group must be one of C4, D4, got 'C3'\n"


@pytest.mark.usefixtures("repo_root")
def test_max_memory_is_the_shared_amount_option() -> None:
    """`--max-memory` reads amounts as every command does ('1Ki' = 1,024 bytes) and refuses a
    bad one, exit 2; its default is the shared 4 GiB."""
    runner = CliRunner()
    small = runner.invoke(app, ["equivariance", "configs/gcnn_c4.yaml", "--max-memory", "1Ki"])
    assert small.exit_code == 2
    assert (
        "above the limit of 1,024 bytes; lower input.resolution or the model's widths and "
        "depth, or raise --max-memory"
    ) in (small.stderr)
    bad = runner.invoke(app, ["equivariance", "configs/gcnn_c4.yaml", "--max-memory", "lots"])
    assert bad.exit_code == 2 and "--max-memory" in bad.stderr
    # 3x2800x2800 needs about 8e9 bytes: refused against 4 GiB = 4,294,967,296
    big = runner.invoke(
        app, ["equivariance", "configs/gcnn_c4.yaml", "--set", "input.resolution=2800"]
    )
    assert big.exit_code == 2 and "above the limit of 4,294,967,296 bytes" in big.stderr
