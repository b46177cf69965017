"""Flax NNX models (README, "Flax NNX models"): counted from `nnx.state(model, nnx.Param)`,
shapes per NNX submodule, receptive fields through the functional form, `target:` behind the
trust list, `input.layout` / `input.shape`, and the missing-extra message.

Every expected number is worked out by hand here (closed forms for the parameters, the TCN's
receptive field sum over blocks of 2 (k - 1) 2**i backward and 0 forward), and checked against
flax's own `nnx.state` and against running the concrete module.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import sys

import jax
import jax.numpy as jnp
import pytest
import yaml
from flax import nnx
from typer.testing import CliRunner

from archinspect.analysis.params import count_params, module_rows
from archinspect.analysis.receptive_field import receptive_field
from archinspect.analysis.shapes import forward_layers
from archinspect.build import build_abstract
from archinspect.build.flax import MISSING_FLAX, import_nnx, is_flax_module, wrap_flax
from archinspect.cli import app
from archinspect.errors import ArchinspectError
from archinspect.examples.flax_tcn import TCN
from archinspect.spec import load_spec_text
from tests.conftest import slow_after

runner = CliRunner()
TCN_CONFIG = "configs/flax_tcn.yaml"


def param_count(model) -> int:
    """The oracle: flax's own parameter state."""
    return sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param)))


# ----------------------------------------------------------------------------- counting


class Stack(nnx.Module):
    """Convolutions then a dense layer over the channels (channels last, as flax has them)."""

    def __init__(self, features, kernels, dims, use_bias, out, *, rngs):
        self.convs = nnx.List(
            [
                nnx.Conv(a, b, kernel_size=(k,) * dims, use_bias=use_bias, rngs=rngs)
                for a, b, k in zip(features[:-1], features[1:], kernels, strict=True)
            ]
        )
        self.head = nnx.Linear(features[-1], out, rngs=rngs)

    def __call__(self, x):
        for conv in self.convs:
            x = nnx.relu(conv(x))
        return self.head(x)


def _stack_cases(n: int = 8):
    rng = random.Random(13)
    for _ in range(n):
        depth = rng.randint(1, 3)
        yield (
            tuple(rng.randint(1, 6) for _ in range(depth + 1)),
            tuple(rng.choice((1, 2, 3, 4)) for _ in range(depth)),
            rng.choice((1, 2)),
            rng.choice((True, False)),
            rng.randint(1, 4),
        )


@pytest.mark.parametrize("features,kernels,dims,use_bias,out", slow_after(list(_stack_cases()), 3))
def test_counts_equal_nnx_param_state_on_a_grid_of_stacks(features, kernels, dims, use_bias, out):
    expected = sum(
        k**dims * a * b + (b if use_bias else 0)
        for a, b, k in zip(features[:-1], features[1:], kernels, strict=True)
    ) + (features[-1] * out + out)
    concrete = Stack(features, kernels, dims, use_bias, out, rngs=nnx.Rngs(0))
    abstract = nnx.eval_shape(
        lambda: Stack(features, kernels, dims, use_bias, out, rngs=nnx.Rngs(0))
    )
    for model in (concrete, abstract):
        summary = count_params(wrap_flax(model, layout="channels_last"))
        assert summary.total == summary.learnable == param_count(model) == expected
    rows = {r.path: (r.type, r.params) for r in module_rows(wrap_flax(abstract))[0]}
    assert rows["head"] == ("Linear", features[-1] * out + out)
    assert rows["convs[0]"][0] == "Conv"


class Normed(nnx.Module):
    def __init__(self, *, rngs):
        self.conv = nnx.Conv(2, 8, kernel_size=(3,), rngs=rngs)
        self.norm = nnx.BatchNorm(8, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):
        return self.drop(self.norm(self.conv(x)))


def test_batch_statistics_are_state_not_learnable_parameters():
    model = nnx.eval_shape(lambda: Normed(rngs=nnx.Rngs(0)))
    wrapped = wrap_flax(model)
    summary = count_params(wrapped)
    # conv 3*2*8 + 8 = 56, norm scale and bias 8 + 8 = 16; mean and var (16) are not counted
    assert summary.total == summary.learnable == param_count(model) == 72
    batch_stats = nnx.state(model, nnx.BatchStat)
    assert sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(batch_stats)) == 16
    leaves = {leaf.name for leaf in module_rows(wrapped)[1]}
    assert leaves == {"conv.kernel", "conv.bias", "norm.scale", "norm.bias"}
    spec = load_spec_text(
        yaml.safe_dump(
            {
                "model": {"target": "tests.test_flax.Normed"},
                "input": {"layout": "channels_last", "shape": [16, 2]},
            }
        ),
        "normed.yaml",
    )
    from archinspect.commands.count import count_report

    report = count_report(spec, trusted=("tests",))
    assert report.params.total == 72
    assert report.notes == (
        "state, not parameters (nnx variables other than nnx.Param): BatchStat 16 values in "
        "2 arrays; RngCount 1 value in 1 array; RngKey 1 value in 1 array",
    )


def test_is_flax_module_and_the_wrapper_layouts():
    model = nnx.Conv(3, 2, kernel_size=(3,), padding="VALID", rngs=nnx.Rngs(1))
    assert is_flax_module(model) and not is_flax_module(jnp.zeros(3))
    x = jax.random.normal(jax.random.key(0), (3, 10))  # channels first, one sample
    last = wrap_flax(model, layout="channels_last")
    assert last(x).shape == (2, 8)
    assert jnp.allclose(last(x), jnp.moveaxis(model(x.T[None])[0], -1, 0), atol=1e-6)
    unbatched = wrap_flax(model, layout="channels_last", batch_axis=False)
    assert jnp.allclose(unbatched(x), last(x), atol=1e-6)
    with pytest.raises(ArchinspectError, match="layout must be one of channels_first"):
        wrap_flax(model, layout="nhwc")


# ----------------------------------------------------------------------------- shapes


def _run_recording(model, x):
    """Each NNX submodule's (input shape, output shape) on a concrete run, by attribute path
    (an independent recorder: class __call__ patched by hand)."""
    paths = {}
    for path, node in nnx.iter_graph(model):
        if isinstance(node, nnx.Module) and path:
            text = ""
            for part in path:
                text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
            paths[id(node)] = text
    seen = {}
    classes = {type(node) for _, node in nnx.iter_graph(model) if isinstance(node, nnx.Module)}
    originals = {cls: cls.__call__ for cls in classes}

    def patched(original):
        def call(self, inp, *args, **kwargs):
            out = original(self, inp, *args, **kwargs)
            if id(self) in paths:
                seen.setdefault(paths[id(self)], (tuple(inp.shape), tuple(out.shape)))
            return out

        return call

    try:
        for cls, original in originals.items():
            cls.__call__ = patched(original)
        model(x)
    finally:
        for cls, original in originals.items():
            cls.__call__ = original
    return seen


@pytest.mark.parametrize(
    "channels,kernel", [((4, 4), 3), pytest.param((3, 5, 5), 2, marks=pytest.mark.slow)]
)
def test_shapes_of_every_submodule_equal_running_the_module(channels, kernel):
    model = TCN(2, 1, channels, kernel, rngs=nnx.Rngs(0))
    model.eval()
    run = _run_recording(model, jnp.ones((1, 24, 2)))
    out, rows, _ = forward_layers(wrap_flax(model), (2, 24), "float32")
    assert out == (1, 24)
    recorded = {r.path: (r.input_shapes[0], r.output_shapes[0]) for r in rows if r.path}
    assert recorded == run
    # the README's example names: blocks[0].conv1 ... decoder
    assert "blocks[0].conv1" in recorded and "decoder" in recorded
    assert ("blocks[0].downsample" in recorded) == (channels[0] != 2)


# ----------------------------------------------------------------------------- receptive field


@pytest.mark.parametrize("depth,kernel", [(1, 2), (2, 5), (3, 3), (4, 2)])
def test_tcn_receptive_field_by_hand_structural_and_empirical(depth, kernel):
    hand = (sum(2 * (kernel - 1) * 2**i for i in range(depth)), 0)
    model = nnx.eval_shape(lambda: TCN(1, 1, (3,) * depth, kernel, rngs=nnx.Rngs(0)))
    wrapped = wrap_flax(model)
    for method in ("structural", "empirical"):
        rf = receptive_field(wrapped, (1, 64), method=method)
        assert rf.per_axis == (hand,), method
        assert rf.global_ is False


def test_two_d_receptive_field_per_spatial_axis_whatever_the_layout():
    # kernels 3x5 then 1x3: (1+0, 2+1) = (1, 3) backward and forward along the two axes
    class Net(nnx.Module):
        def __init__(self, *, rngs):
            self.a = nnx.Conv(1, 2, kernel_size=(3, 5), rngs=rngs)
            self.b = nnx.Conv(2, 1, kernel_size=(1, 3), rngs=rngs)

        def __call__(self, x):
            return self.b(nnx.gelu(self.a(x)))

    model = nnx.eval_shape(lambda: Net(rngs=nnx.Rngs(0)))
    rf = receptive_field(wrap_flax(model), (1, 16, 16), method="both")
    assert rf.per_axis == ((1, 1), (3, 3))


# ----------------------------------------------------------------------------- the CLI


def tcn_parameters(in_f=1, out_f=1, channels=(32, 32, 32, 32), k=3) -> int:
    total, previous = 0, in_f
    for c in channels:
        total += k * previous * c + c + k * c * c + c  # conv1, conv2
        if previous != c:
            total += previous * c + c  # the 1x1 downsample
        previous = c
    return total + channels[-1] * out_f + out_f  # the 1x1 decoder


def invoke(*args):
    return runner.invoke(app, list(args))


def test_cli_count_matches_nnx_state_exactly():
    expected = tcn_parameters()
    assert (
        expected == 3 * 1 * 32 + 32 + 3 * 32 * 32 + 32 + 32 + 32 + 3 * 2 * (3 * 32 * 32 + 32) + 33
    )
    model = nnx.eval_shape(lambda: TCN(1, 1, (32, 32, 32, 32), 3, rngs=nnx.Rngs(0)))
    assert param_count(model) == expected == 21_953
    result = invoke("count", TCN_CONFIG, "-f", "json", "--depth", "3")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["params"]["total"] == data["params"]["learnable"] == 21_953
    assert data["input_shape"] == [1, 256]
    rows = {r["path"]: r["params"] for r in data["layers"]}
    assert rows["blocks[0]"] == 3 * 32 + 32 + 3 * 32 * 32 + 32 + 32 + 32  # 3,296
    assert rows["blocks[0].downsample"] == 64
    assert rows["blocks[3].conv2"] == 3 * 32 * 32 + 32  # 3,104
    assert rows["decoder"] == 33
    assert data["notes"] == [
        "state, not parameters (nnx variables other than nnx.Param): RngCount 8 values in "
        "8 arrays; RngKey 8 values in 8 arrays"
    ]


def test_cli_shapes_lists_the_nnx_submodules():
    result = invoke("shapes", TCN_CONFIG, "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    layers = {r["path"]: r for r in data["layers"]}
    # NNX modules see (batch, time, features); the model as a whole one channels-first sample
    assert layers["blocks[0].conv1"]["input_shape"] == [1, 256, 1]
    assert layers["blocks[0].conv1"]["output_shape"] == [1, 256, 32]
    assert layers["decoder"]["output_shape"] == [1, 256, 1]
    # cumulative RF: block i ends at sum_{j<=i} 2 (k-1) 2**j = 4, 12, 28, 60
    ends = [layers[f"blocks[{i}]"]["receptive_field"] for i in range(4)]
    assert ends == [[[4, 0]], [[12, 0]], [[28, 0]], [[60, 0]]]
    assert layers["blocks[1].conv1"]["receptive_field"] == [[4 + 2 * 2, 0]]


def test_cli_rf_both_methods_give_the_hand_value():
    hand = sum(2 * (3 - 1) * 2**i for i in range(4))
    assert hand == 60
    result = invoke("rf", TCN_CONFIG, "--method", "both", "-f", "json")
    assert result.exit_code == 0, result.output
    rf = json.loads(result.stdout)["receptive_field"]
    assert rf["per_axis"] == [[hand, 0]]
    assert rf["global"] is False


def test_abstract_build_allocates_no_weight():
    spec = load_spec_text(open(TCN_CONFIG).read(), TCN_CONFIG)
    # layout given, batch axis the Flax default (decided when built: a Flax model)
    assert spec.input.layout == "channels_last" and spec.input.batch_axis is None
    shaped = load_spec_text(
        open(TCN_CONFIG)
        .read()
        .replace("resolution: [256]", "shape: [batch, 256, 1]")
        .replace("  channels: 1\n", ""),
        TCN_CONFIG,
    )
    assert shaped.input == dataclasses.replace(spec.input, batch_axis=True)
    assert spec.input_shape == (1, 256)
    model = build_abstract(spec)
    leaves = jax.tree_util.tree_leaves(model)
    assert leaves and all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in leaves)


def _flax_target_spec(tmp_path):
    path = tmp_path / "linear.yaml"
    path.write_text(
        "model:\n"
        "  target: flax.nnx.Linear\n"
        "  in_features: 3\n"
        "  out_features: 2\n"
        "input:\n"
        "  layout: channels_last\n"
        "  shape: [batch, 5, 3]\n"
    )
    return str(path)


def test_a_flax_target_needs_trust(tmp_path):
    path = _flax_target_spec(tmp_path)
    result = invoke("count", path)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: model.target 'flax.nnx.Linear' is not trusted: importing it would run "
        "code from package 'flax', which is not in the trust list (archinspect, equinox, "
        "pdequinox). If you trust it, pass --trust flax on the command line (the spec file "
        "cannot extend the trust list).\n"
    )
    trusted = invoke("count", path, "--trust", "flax", "-f", "json")
    assert trusted.exit_code == 0, trusted.output
    assert json.loads(trusted.stdout)["params"]["total"] == 3 * 2 + 2


def test_a_batch_axis_for_an_equinox_model_is_refused_when_built(tmp_path):
    # channels_last is an Equinox input layout too (README "Inputs of any shape"); a batch
    # axis is not: an Equinox module takes one sample.
    spec = load_spec_text(
        yaml.safe_dump(
            {
                "model": {
                    "target": "equinox.nn.Conv1d",
                    "in_channels": 1,
                    "out_channels": 1,
                    "kernel_size": 3,
                },
                "input": {"layout": "channels_last", "shape": ["batch", 8, 1]},
            }
        ),
        "eqx.yaml",
    )
    with pytest.raises(
        ArchinspectError,
        match=r"^error: eqx.yaml: a batch axis in input.shape is for Flax NNX models \(a "
        r"`target:` taking `rngs=`\); model.target 'equinox.nn.Conv1d' is an Equinox module, "
        r"which takes one sample$",
    ):
        build_abstract(spec)


# ----------------------------------------------------------------------------- without flax


@pytest.fixture
def no_flax(monkeypatch):
    """flax made unimportable (as when the extra is not installed)."""
    for name in list(sys.modules):
        if name == "flax" or name.startswith("flax.") or name == "archinspect.examples.flax_tcn":
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "flax", None)
    monkeypatch.setitem(sys.modules, "flax.nnx", None)


def test_missing_extra_is_named(no_flax):
    assert MISSING_FLAX == (
        "Flax NNX models need flax, which is not installed; install the extra: "
        "pip install 'archinspect[flax]'"
    )
    with pytest.raises(ArchinspectError, match=r"pip install 'archinspect\[flax\]'"):
        import_nnx()
    assert is_flax_module(object()) is False
    result = invoke("count", TCN_CONFIG)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {TCN_CONFIG}: model.target 'archinspect.examples.flax_tcn.TCN' is a Flax "
        f"model: {MISSING_FLAX}\n"
    )
    with pytest.raises(ImportError, match=r"needs flax, which is not installed; install the"):
        import archinspect.examples.flax_tcn  # noqa: F401


def test_the_flax_tcn_equals_the_built_in_tcn_family():
    from archinspect.commands.count import count_report

    flax_spec = load_spec_text(open(TCN_CONFIG).read(), TCN_CONFIG)
    family_spec = load_spec_text(open("configs/tcn.yaml").read(), "configs/tcn.yaml")
    a, b = count_report(flax_spec), count_report(family_spec)
    assert a.params.total == b.params.total == tcn_parameters() == 21_953
    rf_a = receptive_field(build_abstract(flax_spec), flax_spec.input_shape)
    rf_b = receptive_field(build_abstract(family_spec), family_spec.input_shape)
    assert rf_a.per_axis == rf_b.per_axis == ((60, 0),)


class Private(nnx.Module):
    def __init__(self, *, rngs):
        self._w = nnx.Param(jnp.ones((3, 2)))

    def __call__(self, x):
        return x @ self._w


def test_roots_whose_attributes_cannot_be_fields():
    # private attribute names, and a root that is a container: the parameters live under
    # one `params` field, still counted exactly and run
    private = wrap_flax(nnx.eval_shape(lambda: Private(rngs=nnx.Rngs(0))))
    assert count_params(private).total == 6
    assert forward_layers(private, (3, 5), "float32")[0] == (2, 5)
    seq = nnx.eval_shape(
        lambda: nnx.Sequential(
            nnx.Linear(3, 4, rngs=nnx.Rngs(0)), nnx.relu, nnx.Linear(4, 2, rngs=nnx.Rngs(0))
        )
    )
    wrapped = wrap_flax(seq)
    assert count_params(wrapped).total == param_count(seq) == 3 * 4 + 4 + 4 * 2 + 2
    rows = forward_layers(wrapped, (3, 5), "float32")[1]
    assert [(r.path, r.output_shapes) for r in rows] == [
        ("", ((2, 5),)),
        ("layers[0]", ((1, 5, 4),)),
        ("layers[2]", ((1, 5, 2),)),
    ]


def test_activations_held_as_attributes_are_cut_in_the_empirical_copy():
    # nnx.Sequential keeps nnx.relu in its list; the empirical method must still see a linear
    # copy: kernels 3 then 5 give (1 + 2, 1 + 2) = (3, 3)
    seq = nnx.eval_shape(
        lambda: nnx.Sequential(
            nnx.Conv(1, 2, kernel_size=(3,), rngs=nnx.Rngs(0)),
            nnx.relu,
            nnx.Conv(2, 1, kernel_size=(5,), rngs=nnx.Rngs(0)),
            jax.nn.gelu,
        )
    )
    rf = receptive_field(wrap_flax(seq), (1, 32), method="both")
    assert rf.per_axis == ((3, 3),)


# ----------------------------------------------------------------------------- the Python API


class TwoConvs(nnx.Module):
    """Conv(3 -> 8, k3), ReLU, Conv(8 -> 4, k5), channels last as flax has them."""

    def __init__(self, *, rngs):
        self.c1 = nnx.Conv(3, 8, (3,), rngs=rngs)
        self.c2 = nnx.Conv(8, 4, (5,), rngs=rngs)

    def __call__(self, x):
        return self.c2(nnx.relu(self.c1(x)))


@pytest.mark.parametrize("abstract", [False, True])
def test_the_python_api_takes_flax_modules_channels_last(abstract):
    """README, "Python API": a Flax module is counted, shaped and measured as it is called,
    with `x` channels last (flax's convention) unless `layout=` says otherwise."""
    import archinspect

    build = lambda: TwoConvs(rngs=nnx.Rngs(0))  # noqa: E731
    model = nnx.eval_shape(build) if abstract else build()
    # 3*8*3 + 8 and 8*4*5 + 4: 80 + 164 = 244, what nnx.state holds.
    assert archinspect.count(model).params.total == 244 == param_count(build())
    # Stencils 3 and 5 compose to (1 + 2, 1 + 2) = (3, 3), with both methods agreeing.
    rf = archinspect.receptive_field(model, (32, 3), method="both")
    assert rf.to_dict()["receptive_field"]["per_axis"] == [[3, 3]]
    report = archinspect.shapes(model, jax.ShapeDtypeStruct((32, 3), jnp.float32))
    assert report.input_shape == (3, 32) and report.output_shape == (4, 32)
    rows = {row.path: (row.own_params, row.output_shapes, row.rf) for row in report.layers}
    assert rows["c1"] == (80, ((1, 32, 8),), ((1, 1),))
    assert rows["c2"] == (164, ((1, 32, 4),), ((3, 3),))
