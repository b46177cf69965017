"""Calling models as they are called (README "forward:"): a PRNG key, inference mode, a state
and fixed keyword arguments, from a spec file or the Python API; constructors get `key=` only
when they take one; input-independent equations (PRNG splits, iota) need no RF rule.

Receptive fields are hand-derived and reproduced by the perturbation oracle (tests/rf_oracle.py)
on the model called concretely the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from typer.testing import CliRunner

import archinspect
from archinspect.cli import app
from tests.forward_models import ConvBN, NoisyNet
from tests.rf_oracle import oracle

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent
NOISY = "tests/specs/forward/noisy.yaml"


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def run(*args: str):
    return runner.invoke(app, list(args))


def ok_json(*args: str) -> dict:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# NoisyNet: conv k3 (pad 1) -> relu -> dropout -> conv k5 (pad 2): (3 - 1)/2 + (5 - 1)/2 = 3
NOISY_RF = [[1 + 2, 1 + 2], [1 + 2, 1 + 2]]


def test_key_and_inference_from_a_spec_shape_and_rf_the_model():
    shapes = ok_json("shapes", NOISY, "--trust", "tests")
    assert shapes["output_shape"] == [2, 16, 16]  # conv2 out_channels 2, same padding
    layers = {row["path"]: row for row in shapes["layers"]}
    assert set(layers) == {"", "conv1", "drop", "conv2"}  # the user's paths, no wrapper
    assert layers[""]["type"] == "NoisyNet"
    rf = ok_json("rf", NOISY, "--trust", "tests", "--method", "both")
    assert rf["receptive_field"]["per_axis"] == NOISY_RF


def test_the_oracle_agrees_on_the_model_called_with_key_and_inference():
    model = eqx.nn.inference_mode(NoisyNet(1, key=jax.random.PRNGKey(1)))

    def f(x):
        return model(x, key=jax.random.PRNGKey(0), scale=2.0)

    per_axis, _ = oracle(f, (1, 12, 12))
    assert [list(p) for p in per_axis] == NOISY_RF


def test_keyword_argument_reaches_call():
    """forward.scale: 2.0 is passed to __call__: the output is twice the unscaled one."""
    model = eqx.nn.inference_mode(NoisyNet(1, key=jax.random.PRNGKey(1)))
    x = jnp.ones((1, 8, 8))
    from archinspect.build.forward import wrap

    wrapped = wrap(model, {"key": True, "scale": 2.0}, "test")
    expected = model(x, key=jax.random.PRNGKey(0), scale=2.0)
    assert jnp.array_equal(wrapped(x), expected)
    assert jnp.array_equal(wrapped(x), 2 * model(x, key=jax.random.PRNGKey(0)))


def test_keyword_argument_call_does_not_take_is_a_located_problem(tmp_path):
    spec = tmp_path / "typo.yaml"
    spec.write_text(
        "model:\n  target: tests.forward_models:NoisyNet\n  in_channels: 1\ninput:\n"
        "  channels: 1\n  resolution: [16, 16]\nforward:\n  key: true\n  scael: 2.0\n",
        encoding="utf-8",
    )
    result = run("shapes", str(spec), "--trust", "tests")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {spec} is not a valid archinspect spec (1 problem)\n"
        f"{spec}:9:10: forward.scael: NoisyNet.__call__ takes no argument 'scael'; did you "
        "mean 'scale'? (it takes: key, scale)\n"
    )


def test_state_from_a_spec_runs_model_with_its_state(tmp_path):
    spec = tmp_path / "bn.yaml"
    spec.write_text(
        "model:\n  target: tests.forward_models:ConvBN\ninput:\n  channels: 3\n"
        "  resolution: [16, 16]\nforward:\n  state: true\n  inference: true\n",
        encoding="utf-8",
    )
    shapes = ok_json("shapes", str(spec), "--trust", "tests")
    assert shapes["output_shape"] == [8, 16, 16]
    # conv k3 pad 1: 1 cell each way; BatchNorm in inference mode is per cell
    rf = ok_json("rf", str(spec), "--trust", "tests", "--method", "both")
    assert rf["receptive_field"]["per_axis"] == [[1, 1], [1, 1]]


# Each takes no key; by hand: LayerNorm over (3, 8, 8) has 2 * 192 weights, GroupNorm(1, 3)
# 2 * 3, BatchNorm(3) 2 * 3 (and 2 * 3 + 1 state), PReLU one slope, the rest none.
LAYERS = [
    ("LayerNorm", "shape: [3, 8, 8]", "", 2 * 3 * 8 * 8, 0, [3, 8, 8]),
    ("GroupNorm", "groups: 1\n  channels: 3", "", 2 * 3, 0, [3, 8, 8]),
    (
        "BatchNorm",
        "input_size: 3\n  axis_name: batch\n  mode: batch",
        "forward:\n  state: true\n  inference: true\n",
        2 * 3,
        2 * 3 + 1,
        [3, 8, 8],
    ),
    ("MaxPool2d", "kernel_size: 2", "", 0, 0, [3, 7, 7]),  # 8 - 2 + 1
    ("AvgPool2d", "kernel_size: 3\n  stride: 2", "", 0, 0, [3, 3, 3]),  # (8 - 3) // 2 + 1
    ("Dropout", "p: 0.5", "forward:\n  inference: true\n", 0, 0, [3, 8, 8]),
    ("Dropout", "p: 0.5", "forward:\n  key: true\n", 0, 0, [3, 8, 8]),
    ("Sequential", "layers: []", "", 0, 0, [3, 8, 8]),
    ("PReLU", "init_alpha: 0.25", "", 1, 0, [3, 8, 8]),
]


@pytest.mark.parametrize(("layer", "args", "forward", "learnable", "state", "out"), LAYERS)
def test_equinox_layers_without_key_build_as_targets(
    tmp_path, layer, args, forward, learnable, state, out
):
    spec = tmp_path / "layer.yaml"
    spec.write_text(
        f"model:\n  target: equinox.nn.{layer}\n  {args}\ninput:\n  channels: 3\n"
        f"  resolution: [8, 8]\n{forward}",
        encoding="utf-8",
    )
    p = ok_json("count", str(spec))["params"]
    assert (p["learnable"], p["state"]) == (learnable, state)
    assert ok_json("shapes", str(spec))["output_shape"] == out


def test_api_forward_and_state():
    model, state = eqx.nn.make_with_state(ConvBN)(key=jax.random.PRNGKey(0))
    report = archinspect.receptive_field(
        model, (3, 12, 12), "both", forward={"inference": True}, state=state
    )
    assert report.result.per_axis == ((1, 1), (1, 1))
    shapes = archinspect.shapes(model, (3, 8, 8), forward={"inference": True}, state=state)
    assert shapes.to_dict()["output_shape"] == [8, 8, 8]
    assert [row["path"] for row in shapes.to_dict()["layers"]] == ["", "conv", "bn"]
    noisy = NoisyNet(1, key=jax.random.PRNGKey(0))
    forward = {"key": True, "inference": True}
    report = archinspect.receptive_field(noisy, (1, 12, 12), forward=forward)
    assert [list(p) for p in report.result.per_axis] == NOISY_RF
    # In training mode the dropout mask, fixed by the key, drops cells at no period: no
    # stencil, and the refusal names the module (never a guess).
    with pytest.raises(archinspect.ArchinspectError, match=r"non-periodically, in drop \(Dropout"):
        archinspect.receptive_field(noisy, (1, 12, 12), forward={"key": True})


def test_api_forward_mistakes():
    model, _ = eqx.nn.make_with_state(ConvBN)(key=jax.random.PRNGKey(0))
    with pytest.raises(archinspect.ArchinspectError, match=r"state is held apart: pass it"):
        archinspect.shapes(model, (3, 8, 8), forward={"state": True, "inference": True})
    with pytest.raises(archinspect.ArgumentError, match=r"`forward\['key'\]` \(='yes'\) must"):
        archinspect.shapes(model, (3, 8, 8), forward={"key": "yes"})
    with pytest.raises(archinspect.ArgumentError, match=r"`forward` \(a list\) must be a dict"):
        archinspect.count(model, forward=["key"])
    with pytest.raises(archinspect.ArgumentError, match=r"`state` \(a dict\) must be an eqx"):
        archinspect.count(model, state={})


def _constants(x):
    """A k3 stencil plus noise from a folded, split key and an iota: none of the PRNG or
    iota equations depends on x, so the RF is the stencil's (1, 1)."""
    key = jax.random.fold_in(jax.random.PRNGKey(0), 3)
    k1, k2 = jax.random.split(key)
    noise = jax.random.normal(k1, x.shape) + jax.random.uniform(k2, x.shape)
    y = jnp.convolve(x[0], jnp.ones(3), mode="same")[None]
    return y + noise + jnp.arange(x.shape[-1]) * 0.1 + x.shape[-1]


def test_input_independent_equations_need_no_rule():
    report = archinspect.receptive_field(_constants, (1, 32), "both")
    assert report.result.per_axis == ((1, 1),)
    per_axis, _ = oracle(_constants, (1, 32))
    assert [tuple(p) for p in per_axis] == [(1, 1)]


README_STATEFUL = """\
model:
  target: archinspect.examples.stateful.StatefulNet
  in_channels: 3
  hidden_channels: 16
  out_channels: 10
  p: 0.2
input:
  resolution: [32, 32]
forward:
  state: true
  inference: true
  key: true
"""


def test_readme_forward_example(tmp_path):
    """README "How the model is called": conv 16*3*9 + 16 = 448, BatchNorm 2*16 = 32, conv
    10*16*9 + 10 = 1,450 learnable; 2*16 running statistics and a counter; RF 1 + 1 = 2."""
    spec = tmp_path / "stateful.yaml"
    spec.write_text(README_STATEFUL, encoding="utf-8")
    p = ok_json("count", str(spec))["params"]
    assert (p["learnable"], p["state"], p["total"]) == (448 + 32 + 1450, 2 * 16 + 1, 1963)
    rf = ok_json("rf", str(spec))
    assert rf["receptive_field"]["per_axis"] == [[1 + 1, 1 + 1], [1 + 1, 1 + 1]]
