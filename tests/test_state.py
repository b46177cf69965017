"""Parameters vs state (README "archinspect count"): learnable is what an optimizer trains.

Arrays held under an `eqx.nn.StateIndex` (BatchNorm's running statistics and counter), integer
buffers, and arrays the user marks `--frozen` are out of learnable; total stays every stored
array, and total == learnable + state + frozen. The same model gives the same figures whether it
is built directly or with `eqx.nn.make_with_state` (`forward: {state: true}`). Expected values are
worked out by hand here and checked against equinox's own split of model and state.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from typer.testing import CliRunner

import archinspect
from archinspect.analysis.params import module_rows, summarize
from archinspect.cli import app
from tests.forward_models import ConvBN

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent

# Conv2d(3 -> 8, k3) with bias + BatchNorm(8) affine, by hand:
CONV_BN_LEARNABLE = 8 * 3 * 3 * 3 + 8 + 2 * 8  # 224 conv + 16 BatchNorm weight/bias = 240
CONV_BN_STATE = 2 * 8 + 1  # running mean and variance, and the batch counter (an int32)
CONV_BN_TOTAL = CONV_BN_LEARNABLE + CONV_BN_STATE  # 257


CONV_BN_SPEC = (
    "model:\n  target: tests.forward_models:ConvBN\ninput:\n  channels: 3\n  resolution: [8, 8]\n"
)


def size(tree) -> int:
    return sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tree))


def equinox_split(make, *args, **kwargs) -> tuple[int, int]:
    """The oracle: equinox's own make_with_state puts the state apart; what is left in the
    model as inexact arrays is what an optimizer sees (eqx.is_inexact_array)."""
    model, state = eqx.filter_eval_shape(eqx.nn.make_with_state(make), *args, **kwargs)
    leaves = jax.tree_util.tree_leaves(model)
    learnable = [x for x in leaves if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)]
    return size(learnable), size(state)


def run(*args: str):
    return runner.invoke(app, list(args))


def params_of(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["params"]


def test_conv_bn_built_directly_keeps_running_statistics_out_of_learnable():
    assert (CONV_BN_LEARNABLE, CONV_BN_STATE) == (240, 17)
    assert equinox_split(ConvBN, key=jax.random.PRNGKey(0)) == (240, 17)
    model = eqx.filter_eval_shape(ConvBN, key=jax.random.PRNGKey(0))
    rows, leaves = module_rows(model)
    p = summarize(leaves)
    assert (p.total, p.learnable, p.state, p.frozen) == (257, 240, 17, 0)
    assert {leaf.name for leaf in leaves if leaf.state} == {
        "bn.batch_counter.init",
        "bn.batch_state_index.init[0]",
        "bn.batch_state_index.init[1]",
    }
    # 16 of the state's 17 are floats: the running statistics; the counter is an int32
    assert sum(leaf.params for leaf in leaves if leaf.state and leaf.dtype == "float32") == 16


def test_conv_bn_via_make_with_state_counts_the_same(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = CONV_BN_SPEC
    (tmp_path / "direct.yaml").write_text(spec, encoding="utf-8")
    (tmp_path / "state.yaml").write_text(
        spec + "forward:\n  state: true\n  inference: true\n", encoding="utf-8"
    )
    for name in ("direct.yaml", "state.yaml"):
        p = params_of(run("count", name, "--trust", "tests", "--format", "json"))
        assert (p["total"], p["learnable"], p["state"], p["frozen"]) == (257, 240, 17, 0), name
    # Built with make_with_state, the forward pass runs (model(x, state)), so materialized is
    # measured: every array is read (the running statistics in inference mode).
    assert params_of(run("count", "state.yaml", "--trust", "tests", "--format", "json"))[
        "materialized"
    ] == (CONV_BN_TOTAL)
    table = run("count", "state.yaml", "--trust", "tests")
    assert table.exit_code == 0, table.output
    lines = [line.split() for line in table.stdout.splitlines()]
    assert ["learnable", "240", "what", "an", "optimizer", "trains"] in lines
    assert ["state", "17", "running", "statistics,", "buffers"] in lines


def test_api_counts_a_make_with_state_model_with_its_state():
    model, state = eqx.nn.make_with_state(ConvBN)(key=jax.random.PRNGKey(0))
    p = archinspect.count(model, state=state).params
    assert (p.total, p.learnable, p.state) == (257, 240, 17)
    # without its state, the arrays held apart are not in the model at all
    p = archinspect.count(model).params
    assert (p.total, p.learnable, p.state) == (240, 240, 0)


# ---------------------------------------------------------------- ResNet-18 with BatchNorm


def _bn(channels: int) -> eqx.nn.BatchNorm:
    return eqx.nn.BatchNorm(channels, "batch", mode="batch")


class BasicBlock(eqx.Module):
    conv1: eqx.nn.Conv2d
    bn1: eqx.nn.BatchNorm
    conv2: eqx.nn.Conv2d
    bn2: eqx.nn.BatchNorm
    down: tuple[eqx.nn.Conv2d, eqx.nn.BatchNorm] | None

    def __init__(self, cin: int, cout: int, stride: int, *, key):
        k1, k2, k3 = jax.random.split(key, 3)
        self.conv1 = eqx.nn.Conv2d(cin, cout, 3, stride, 1, use_bias=False, key=k1)
        self.bn1 = _bn(cout)
        self.conv2 = eqx.nn.Conv2d(cout, cout, 3, 1, 1, use_bias=False, key=k2)
        self.bn2 = _bn(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = (eqx.nn.Conv2d(cin, cout, 1, stride, use_bias=False, key=k3), _bn(cout))

    def __call__(self, x, state):
        y, state = self.bn1(self.conv1(x), state)
        y, state = self.bn2(self.conv2(jax.nn.relu(y)), state)
        if self.down is not None:
            x, state = self.down[1](self.down[0](x), state)
        return jax.nn.relu(x + y), state


class ResNet18(eqx.Module):
    """torchvision's resnet18, in Equinox."""

    conv1: eqx.nn.Conv2d
    bn1: eqx.nn.BatchNorm
    pool: eqx.nn.MaxPool2d
    blocks: list[BasicBlock]
    fc: eqx.nn.Linear

    def __init__(self, num_classes: int = 1000, *, key):
        keys = jax.random.split(key, 10)
        self.conv1 = eqx.nn.Conv2d(3, 64, 7, 2, 3, use_bias=False, key=keys[0])
        self.bn1 = _bn(64)
        self.pool = eqx.nn.MaxPool2d(3, 2, padding=1)
        plan = [(64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1)]
        plan += [(128, 256, 2), (256, 256, 1), (256, 512, 2), (512, 512, 1)]
        self.blocks = [BasicBlock(*p, key=k) for p, k in zip(plan, keys[1:9], strict=True)]
        self.fc = eqx.nn.Linear(512, num_classes, key=keys[9])

    def __call__(self, x, state):
        x, state = self.bn1(self.conv1(x), state)
        x = self.pool(jax.nn.relu(x))
        for block in self.blocks:
            x, state = block(x, state)
        return self.fc(jnp.mean(x, axis=(1, 2))), state


def _block(cin: int, cout: int, down: bool) -> int:
    """A BasicBlock's learnable weights: two bias-free 3x3 convs, two BatchNorms (2c each),
    and a 1x1 projection with its BatchNorm when the shape changes."""
    return cin * cout * 9 + cout * cout * 9 + 2 * 2 * cout + (cin * cout + 2 * cout) * down


RESNET18 = (
    64 * 3 * 7 * 7  # stem conv, no bias
    + 2 * 64  # stem BatchNorm
    + 2 * _block(64, 64, False)
    + _block(64, 128, True)
    + _block(128, 128, False)
    + _block(128, 256, True)
    + _block(256, 256, False)
    + _block(256, 512, True)
    + _block(512, 512, False)
    + 512 * 1000
    + 1000  # the classifier
)
# Running mean and variance of every BatchNorm (channels: stem 64; per stage 4 norms in the
# blocks and 1 in the projection, except stage one, which has no projection) and a counter each.
BN_CHANNELS = 64 + 4 * 64 + 5 * 128 + 5 * 256 + 5 * 512
RESNET18_STATE = 2 * BN_CHANNELS + 20


def test_resnet18_learnable_is_torchvisions_figure(tmp_path, monkeypatch):
    assert RESNET18 == 11_689_512  # torchvision's published count for resnet18
    assert RESNET18_STATE == 9_620  # the 9,600 running statistics and 20 counters
    assert equinox_split(ResNet18, key=jax.random.PRNGKey(0)) == (RESNET18, RESNET18_STATE)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "resnet18.yaml").write_text(
        "model:\n  target: tests.test_state:ResNet18\ninput:\n  channels: 3\n  resolution: "
        "[32, 32]\nforward:\n  state: true\n  inference: true\n",
        encoding="utf-8",
    )
    p = params_of(run("count", "resnet18.yaml", "--trust", "tests", "--format", "json"))
    assert (p["learnable"], p["state"], p["frozen"]) == (RESNET18, RESNET18_STATE, 0)
    assert p["total"] == RESNET18 + RESNET18_STATE
    # the forward pass, called as model(x, state), traces: every array is read
    assert p["materialized"] == p["total"]


# ---------------------------------------------------------------- --frozen


def test_frozen_on_a_shipped_config_moves_exactly_the_matched_arrays():
    """configs/textbook_conv2d.yaml: conv 1x2 (2, no bias), conv 3x4 (12, no bias), max pool,
    conv 1x1 1 -> 4 (4 weights + 4 biases) = 22."""
    spec = str(REPO / "configs/textbook_conv2d.yaml")
    p = params_of(run("count", spec, "--format", "json"))
    assert (p["total"], p["learnable"], p["frozen"]) == (22, 22, 0)
    # a module path freezes its whole subtree; a leaf glob only the leaves it matches
    p = params_of(run("count", spec, "--frozen", "layers[3]", "--format", "json"))
    assert (p["total"], p["learnable"], p["frozen"]) == (22, 22 - (4 + 4), 4 + 4)
    p = params_of(run("count", spec, "--frozen", "*.bias", "--frozen", "layers[0]*", "-f", "json"))
    assert (p["total"], p["learnable"], p["frozen"]) == (22, 22 - 4 - 2, 4 + 2)
    # `[0]` is an index, not a glob character class matching "0"
    p = params_of(run("count", spec, "--frozen", "layers[1].weight", "--format", "json"))
    assert p["frozen"] == 12


@pytest.mark.parametrize("command", ["count", "shapes", "inspect", "sweep", "solve"])
def test_frozen_pattern_that_matches_nothing_is_an_error(command):
    spec = str(REPO / "configs/textbook_conv2d.yaml")
    extra = {
        "sweep": ["-p", "input.resolution", "--values", "[6,8]"],
        "solve": ["--max-params", "1k"],
    }
    result = run(command, spec, "--frozen", "layer[3]*", *extra.get(command, []))
    assert result.exit_code == 2, result.output
    assert (
        "error: frozen pattern 'layer[3]*' (--frozen, frozen=) matches no array or module path "
        "of the model; patterns are globs (* and ?) over the dotted paths `archinspect count` "
        "shows, e.g. 'layers[0].weight', 'layers[1].weight', 'layers[3].weight', "
        "'layers[3].bias'"
    ) in result.output
    assert "Traceback" not in result.output


def test_check_max_learnable_params_follows_state_and_frozen(tmp_path, monkeypatch):
    """Learnable 240 passes a limit of 240 (the old count, 257, would not); 239 does not;
    freezing the BatchNorm's affine weights (16) brings it to 224."""
    monkeypatch.chdir(tmp_path)
    spec = CONV_BN_SPEC
    (tmp_path / "at.yaml").write_text(spec + "budget:\n  max_learnable_params: 240\n")
    (tmp_path / "over.yaml").write_text(spec + "budget:\n  max_learnable_params: 239\n")
    assert run("check", "at.yaml", "--trust", "tests").exit_code == 0
    over = run("check", "over.yaml", "--trust", "tests", "--format", "json")
    assert over.exit_code == 1, over.output
    (result,) = json.loads(over.stdout)["results"]
    assert (result["limit"], result["actual"]) == (239, 240)
    frozen = run("check", "over.yaml", "--trust", "tests", "--frozen", "bn", "-f", "json")
    assert frozen.exit_code == 0, frozen.output
    assert json.loads(frozen.stdout)["results"][0]["actual"] == 240 - 2 * 8


def test_api_frozen_and_every_format_shows_state_and_frozen():
    model = eqx.filter_eval_shape(ConvBN, key=jax.random.PRNGKey(0))
    report = archinspect.count(model, frozen=["conv.bias"])
    p = report.params
    assert (p.total, p.learnable, p.state, p.frozen) == (257, 240 - 8, 17, 8)
    assert p.total == p.learnable + p.state + p.frozen
    data = report.to_dict()["params"]
    assert (data["state"], data["frozen"]) == (17, 8)
    with pytest.raises(archinspect.ArchinspectError, match=r"frozen pattern 'nothing'"):
        archinspect.count(model, frozen="nothing")
    with pytest.raises(archinspect.ArchinspectError, match=r"`frozen` \(=3\) must be a pattern"):
        archinspect.count(model, frozen=3)


def test_train_step_differentiates_only_what_is_learnable():
    """The compiled training step returns one gradient per trained array: freezing the conv
    (224 float32) leaves its gradient out of the step's outputs, and the 17 state arrays never
    get one (XLA's output bytes round buffers up, so the comparison is of the difference)."""
    model, state = eqx.nn.make_with_state(ConvBN)(key=jax.random.PRNGKey(0))
    how = {"forward": {"inference": True}, "state": state, "flops": False, "rf": False}
    full = archinspect.inspect(model, (3, 8, 8), **how).memory.train_step
    frozen = archinspect.inspect(model, (3, 8, 8), frozen="conv", **how).memory.train_step
    assert full.output_bytes - frozen.output_bytes >= 224 * 4
    assert full.output_bytes < (257 + 1) * 4  # gradients of 240, not 257, plus the loss
