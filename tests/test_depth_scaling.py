"""Deep models cost time linear and small in depth, with every number unchanged (README
"Performance"): repeated submodule calls are traced once per distinct signature
(archinspect.analysis.shared_calls), and what the forward pass reads is the same as when every
call is traced anew, on models whose layers differ (one unused, one of another width, one
applied twice, two holding the same weight, a call that cannot be shared).
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from archinspect.analysis import shared_calls as shared_mod
from archinspect.analysis.params import read_leaves
from archinspect.commands.count import count_report
from archinspect.layers import conv as conv_mod
from archinspect.layers.conv import Conv
from archinspect.layers.keys import split
from archinspect.spec import load_spec
from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("repo_root")

KEY = jax.random.PRNGKey(0)


def convnet_params(depth: int, c_in: int = 1, h: int = 16, c_out: int = 1, k: int = 3) -> int:
    """archinspect/models/conv_net.py: depth + 1 convs in -> h -> ... -> h -> out, each with a
    weight (out, in, k) and a bias (out, 1)."""
    first = c_in * h * k + h
    hidden = (depth - 1) * (h * h * k + h)
    last = h * c_out * k + c_out
    return first + hidden + last


def test_convnet_formula_matches_the_shipped_budget_comment():
    # configs/convnet.yaml: depth 10, hidden 16 -> 64 + 9 * 784 + 49
    assert convnet_params(10) == 64 + 9 * 784 + 49 == 7_169


# --- models whose layers differ -------------------------------------------------------------


class Dense(eqx.Module):
    weight: jax.Array
    bias: jax.Array

    def __call__(self, x, add_bias: bool = True):
        y = self.weight @ x
        return jnp.tanh(y + self.bias) if add_bias else jnp.tanh(y)


class Pair(eqx.Module):
    """Returns a Python number next to the array: not a tree of arrays, so never shared."""

    inner: Dense

    def __call__(self, x):
        return self.inner(x), 0


class Picky(eqx.Module):
    """Needs its numpy argument concrete (a jit would make it a tracer): run as it is."""

    inner: Dense

    def __call__(self, x, mask):
        return self.inner(x) if bool(np.asarray(mask).any()) else x


class Mixed(eqx.Module):
    layers: list[Dense]
    unused: Dense
    wide: Dense
    narrow: Dense
    twice: Dense
    no_bias: Dense
    pair: Pair
    picky: Picky
    tied_a: Dense
    tied_b: Dense

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        x = self.narrow(self.wide(x))  # 4 -> 6 -> 4: another signature in the middle
        x = self.twice(self.twice(x))  # one layer applied twice
        x = self.no_bias(x, add_bias=False)  # same class and shapes, a different static arg
        x, _ = self.pair(x)
        x = self.picky(x, np.ones(2))
        return self.tied_a(x)  # tied_b holds tied_a's weight and is never called


# numpy weights: read_leaves traces over any array's shape and dtype, and nothing compiles
RNG = np.random.default_rng(0)


def dense(n_out, n_in, weight=None):
    w = RNG.standard_normal((n_out, n_in), np.float32) if weight is None else weight
    return Dense(w, RNG.standard_normal((n_out,), np.float32))


def mixed_model(depth: int) -> Mixed:
    tied = dense(4, 4)
    return Mixed(
        layers=[dense(4, 4) for _ in range(depth)],
        unused=dense(4, 4),
        wide=dense(6, 4),
        narrow=dense(4, 6),
        twice=dense(4, 4),
        no_bias=dense(4, 4),
        pair=Pair(dense(4, 4)),
        picky=Picky(dense(4, 4)),
        tied_a=tied,
        tied_b=dense(4, 4, weight=tied.weight),
    )


def test_mixed_model_reads_the_same_shared_and_unshared():
    model = mixed_model(5)
    shared = read_leaves(model, (4,), "float32", shared=True)
    unshared = read_leaves(model, (4,), "float32", shared=False)
    assert shared == unshared
    everything = {
        f"{name}.{leaf}"
        for name in (
            *[f"layers[{i}]" for i in range(5)],
            *"unused wide narrow twice no_bias pair.inner picky.inner tied_a tied_b".split(),
        )
        for leaf in ("weight", "bias")
    }
    # Not read: the unused layer, no_bias's bias (called with add_bias=False), tied_b's bias.
    # tied_b.weight is the very array tied_a reads, so it is read.
    assert shared == everything - {"unused.weight", "unused.bias", "no_bias.bias", "tied_b.bias"}


def test_a_layer_that_reads_only_part_of_its_arrays_in_one_call_out_of_many():
    # The same Dense class and shapes, called with add_bias True for all layers but the third:
    # the shared trace of the add_bias=True call must not leak into the third layer's reads.
    class Stack(eqx.Module):
        layers: list[Dense]

        def __call__(self, x):
            for i, layer in enumerate(self.layers):
                x = layer(x, add_bias=i != 2)
            return x

    model = Stack([dense(3, 3) for _ in range(6)])
    read = read_leaves(model, (3,), "float32")
    assert read == read_leaves(model, (3,), "float32", shared=False)
    assert "layers[2].bias" not in read
    assert {f"layers[{i}].bias" for i in (0, 1, 3, 4, 5)} <= read


@pytest.mark.parametrize(
    "sets",
    [
        ["model.depth=6", "model.hidden_channels=4"],
        ["model.depth=3", "model.use_bias=false", "model.final_activation=tanh"],
    ],
)
def test_family_counts_and_reads_equal_the_unshared_path(sets):
    spec = load_spec("configs/convnet.yaml", sets)
    from archinspect.build import build_abstract

    model = build_abstract(spec)
    assert read_leaves(model, spec.input_shape, "float32") == read_leaves(
        model, spec.input_shape, "float32", shared=False
    )


def test_modern_resnet_reads_equal_the_unshared_path():
    from archinspect.build import build_abstract

    spec = load_spec("configs/modern_resnet.yaml", ["model.num_blocks=3"])
    model = build_abstract(spec)
    shared = read_leaves(model, spec.input_shape, "float32")
    assert shared == read_leaves(model, spec.input_shape, "float32", shared=False)
    # lifting 1 -> 32 (1x1), 3 blocks of two 3-convs 32 -> 32 with two GroupNorms (32 + 32
    # each; no bypass at constant width), projection 32 -> 1 (1x1): every array is read
    per_block = 2 * (32 * 32 * 3 + 32) + 2 * (32 + 32)
    total = (32 * 1 + 32) + 3 * per_block + (1 * 32 + 1)
    assert total == 64 + 3 * 6_336 + 33 == 19_105
    report = count_report(spec)
    assert report.params.total == report.params.materialized == total


# --- build: the same values, with fewer traces ----------------------------------------------


def test_conv_weights_under_jit_draw_the_values_drawn_one_by_one():
    # The draws of conv_weights, made by hand: split the key, uniform in +-1/sqrt(fan_in).
    wkey, bkey = jax.random.split(KEY)
    bound = 1.0 / math.sqrt(3 * 5)  # in_channels 3, kernel 5
    weight = jax.random.uniform(wkey, (4, 3, 5), minval=-bound, maxval=bound)
    bias = jax.random.uniform(bkey, (4, 1), minval=-bound, maxval=bound)
    got_w, got_b = conv_mod.conv_weights(KEY, 3, 4, (5,))
    np.testing.assert_array_equal(np.asarray(got_w), np.asarray(weight))
    np.testing.assert_array_equal(np.asarray(got_b), np.asarray(bias))


def test_split_gives_the_keys_of_indexing_one_by_one():
    keys = jax.random.split(KEY, 7)
    got = split(KEY, 7)
    assert len(got) == 7
    for i in range(7):
        np.testing.assert_array_equal(np.asarray(got[i]), np.asarray(keys[i]))


# --- the per-layer work does not grow with depth (deterministic) ----------------------------


@pytest.fixture
def conv_traces(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every time the Python of Conv.__call__, of the weight draw or of the weight shapes
    (archinspect/layers/draws.py) runs, by what ran."""
    seen: list[str] = []
    real_call, real_init, real_shaped = Conv.__call__, conv_mod._init, conv_mod._shaped

    def call(self, x):
        seen.append("call")
        return real_call(self, x)

    def init(key, shape, fan_in):
        seen.append("draw")
        return real_init(key, shape, fan_in)

    def shaped(shape):
        seen.append("shape")
        return real_shaped(shape)

    monkeypatch.setattr(Conv, "__call__", call)
    monkeypatch.setattr(conv_mod, "_init", init)
    monkeypatch.setattr(conv_mod, "_shaped", shaped)
    return seen


def _count_at(depth: int, seen: list[str]) -> tuple[int, int, int, int]:
    # Forget the traces kept from earlier calls, so each depth starts from nothing.
    conv_mod._weight_draws.clear_cache()
    conv_mod._weight_shapes.clear_cache()
    shared_mod._run.clear_cache()
    seen.clear()
    report = count_report(load_spec("configs/convnet.yaml", [f"model.depth={depth}"]))
    assert report.params.total == report.params.materialized == convnet_params(depth)
    return seen.count("draw"), seen.count("shape"), seen.count("call"), len(report.rows)


def test_traces_per_layer_do_not_grow_with_depth(conv_traces):
    draws_10, shapes_10, calls_10, _ = _count_at(10, conv_traces)
    draws_300, shapes_300, calls_300, _ = _count_at(300, conv_traces)
    # Three distinct convs (1 -> 16, 16 -> 16, 16 -> 1): two weight shapes (weight, bias) and
    # one call traced for each, at any depth; the abstract build draws nothing.
    assert (draws_10, shapes_10, calls_10) == (draws_300, shapes_300, calls_300) == (0, 3 * 2, 3)


def test_unshared_path_traces_every_call(conv_traces):
    # The reference the counter above is read against: without sharing, one trace per layer.
    from archinspect.build import build_abstract

    model = build_abstract(load_spec("configs/convnet.yaml", ["model.depth=20"]))
    conv_traces.clear()
    read_leaves(model, (1, 256), "float32", shared=False)
    assert conv_traces.count("call") == 21


# --- end to end: depth 2,000 in a subprocess ------------------------------------------------


def test_count_at_depth_2000_is_exact_and_fast():
    depth = 2_000
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-m", "archinspect", "count", "configs/convnet.yaml", "--set",
         f"model.depth={depth}", "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, timeout=240,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # 64 + 1,999 * 784 + 49
    total = convnet_params(depth)
    assert total == 64 + 1_999 * 784 + 49 == 1_567_329
    params = report["params"]
    assert (params["total"], params["learnable"], params["materialized"]) == (total,) * 3
    assert (params["state"], params["frozen"]) == (0, 0)
    convs = [row for row in report["layers"] if row["type"] == "Conv"]
    assert len(convs) == depth + 1
    assert [c["params"] for c in (convs[0], convs[1], convs[-2], convs[-1])] == [
        1 * 16 * 3 + 16,
        16 * 16 * 3 + 16,
        16 * 16 * 3 + 16,
        16 * 1 * 3 + 1,
    ]
    # A gross bound on the child's CPU time (wall time depends on what else the machine runs):
    # about 5 s here, of which 2 s is importing JAX (README "Performance"); the deterministic
    # check is test_traces_per_layer_do_not_grow_with_depth.
    assert cpu < 40, f"count at depth {depth} took {cpu:.0f} s of CPU"


def test_built_layers_share_no_array_object():
    # conv_weights and the GroupNorms come out of one trace per signature: every layer must
    # still hold arrays of its own (analyses tell leaves apart by identity).
    from archinspect.analysis.params import array_leaves
    from archinspect.build import build_abstract

    model = build_abstract(load_spec("configs/modern_resnet.yaml", ["model.num_blocks=3"]))
    leaves = list(array_leaves(model))
    # lifting (2) + 3 blocks of two convs (2 each) and two norms (2 each) + projection (2)
    assert len(leaves) == 2 + 3 * (4 + 4) + 2 == 28
    assert len({id(x) for _, x in leaves}) == 28


PATHS = [
    "",
    "layers",
    "layers[0]",
    "layers[0].conv",
    "layers[0].conv.inner",
    "layers[10]",
    "layers[1]",
    "[0]",
    "[0].a",
    "blocks['a.b']",
    "blocks['a.b'].c",
    "blocks",
    "blocks_2",
    "blocks_2[3]",
]


def test_ancestors_are_exactly_the_paths_is_ancestor_accepts():
    from archinspect.analysis.shapes import _is_ancestor, ancestors

    universe = set(PATHS) | {p for q in PATHS for p in ancestors(q)}
    for path in PATHS:
        found = list(ancestors(path))
        assert len(found) == len(set(found))  # each once
        brute = {p for p in universe if p != path and _is_ancestor(p, path)}
        assert set(found) == brute, path
    # by hand: "layers[0].conv" sits below the root, "layers" and "layers[0]"
    assert list(ancestors("layers[0].conv")) == ["", "layers", "layers[0]"]


def test_leaf_paths_and_depths_equal_the_pairwise_definition():
    from archinspect.analysis.shapes import _is_ancestor, leaf_paths
    from archinspect.report import LayerRow

    rows = [LayerRow(p, "T", 0, (), (), 0, 0) for p in PATHS]
    brute = {p for p in PATHS if not any(q != p and _is_ancestor(p, q) for q in PATHS)}
    # by hand: the paths nothing else continues
    assert brute == {
        "layers[0].conv.inner",
        "layers[10]",
        "layers[1]",
        "[0].a",
        "blocks['a.b'].c",
        "blocks_2[3]",
    }
    assert leaf_paths(rows) == brute


def test_dense_equivalent_subtotals_equal_the_pairwise_definition(monkeypatch):
    from archinspect.analysis import shapes as shapes_mod
    from archinspect.analysis.shapes import _is_ancestor, with_dense_equivalents
    from archinspect.report import DenseEquivalent, LayerRow

    convs = ["layers[0]", "layers[0].conv", "layers[1]", "[0].a", "blocks['a.b']", "blocks_2[3]"]
    bit = {p: 1 << i for i, p in enumerate(convs)}  # a sum of bits names the convs summed

    def fake(conv, spatial):
        return DenseEquivalent(rows=None, cols=None, nonzeros=bit[conv], weights=1)

    monkeypatch.setattr(shapes_mod, "dense_equivalent", fake)
    rows = [
        LayerRow(p, "T", 0, ((1, 4),), (), 0, 0, conv=p if p in bit else None)  # type: ignore[arg-type]
        for p in PATHS
    ]
    got = {r.path: r.dense.nonzeros if r.dense else None for r in with_dense_equivalents(rows)}

    def pairwise(path: str) -> int | None:
        if path in bit:
            return bit[path]
        below = [c for c in convs if _is_ancestor(path, c) and c != path]
        outer = [c for c in below if not any(_is_ancestor(o, c) for o in below if o != c)]
        return sum(bit[c] for c in outer) if outer else None

    assert got == {p: pairwise(p) for p in PATHS}
    # by hand: the root sums the outer convs, not layers[0].conv inside the conv layers[0]
    assert (
        got[""]
        == bit["layers[0]"]
        + bit["layers[1]"]
        + bit["[0].a"]
        + bit["blocks['a.b']"]
        + bit["blocks_2[3]"]
    )
    assert got["layers"] == bit["layers[0]"] + bit["layers[1]"]
    assert got["blocks_2"] == bit["blocks_2[3]"]
