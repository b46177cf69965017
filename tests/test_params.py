"""The counting engine: exact counts over abstract (ShapeDtypeStruct) module trees."""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from archinspect.analysis.params import count_params, fold, measured_summary, module_rows
from archinspect.build import build_abstract
from archinspect.commands.count import count_report
from archinspect.spec.load import load_spec_text


def sds(shape, dtype):
    return jax.ShapeDtypeStruct(shape, dtype)


class Inner(eqx.Module):
    w: Any
    b: Any


class Toy(eqx.Module):
    weight: Any
    spectral: Any
    index: Any
    inner: Inner
    blocks: list
    note: str = eqx.field(static=True)
    frozen: Any = eqx.field(static=True)


def toy() -> Toy:
    return Toy(
        weight=sds((3, 4), jnp.float32),  # 12 params, 48 bytes
        spectral=sds((2, 5), jnp.complex64),  # 10 elements = 20 params, 80 bytes
        index=sds((7,), jnp.int32),  # 7 params, not learnable, 28 bytes
        inner=Inner(
            w=sds((2, 3), jnp.bfloat16),  # 6 params, 12 bytes
            b=sds((3,), jnp.float32),  # 3 params, 12 bytes
        ),
        blocks=[Inner(w=sds((4,), jnp.float32), b=None)],  # 4 params, 16 bytes
        note="not an array",
        frozen=sds((100,), jnp.float32),  # static: part of the tree's structure, not counted
    )


TOY_TOTAL = 12 + 20 + 7 + 6 + 3 + 4  # = 52
TOY_BYTES = 48 + 80 + 28 + 12 + 12 + 16  # = 196


def spec_for(family: str, d: int, in_ch: int, out_ch: int, **kwargs):
    model = {
        "family": family,
        "num_spatial_dims": d,
        "in_channels": in_ch,
        "out_channels": out_ch,
        **kwargs,
    }
    return load_spec_text(f"model: {json.dumps(model)}\n", "test")


# ---------------------------------------------------------------------------------------------
# Leaves


def test_abstract_leaves_are_counted():
    p = count_params(toy())
    assert p.total == TOY_TOTAL == 52


def test_filtering_with_is_array_would_count_nothing():
    # The pitfall the engine avoids: eqx.is_array is False for ShapeDtypeStruct, so the usual
    # idiom sees no arrays at all in an abstract model and would report 0 parameters.
    filtered = eqx.filter(toy(), eqx.is_array)
    assert jax.tree_util.tree_leaves(filtered) == []
    assert sum(x.size for x in jax.tree_util.tree_leaves(filtered)) == 0
    # ...while the abstract leaves are really there:
    abstract = [x for x in jax.tree_util.tree_leaves(toy()) if isinstance(x, jax.ShapeDtypeStruct)]
    assert sum(math.prod(x.shape) for x in abstract) == 12 + 10 + 7 + 6 + 3 + 4


def test_complex_counts_twice_and_takes_eight_bytes():
    _, leaves = module_rows(toy())
    spectral = next(leaf for leaf in leaves if leaf.name == "spectral")
    assert spectral.dtype == "complex64"
    assert spectral.params == 2 * (2 * 5)  # two reals per complex element
    assert spectral.bytes == 8 * (2 * 5)  # complex64: 8 bytes per element
    p = count_params(toy())
    assert p.complex_elements == 2 * 5
    assert p.elements_by_dtype["complex64"] == 2 * 5
    assert p.by_dtype["complex64"] == 20


def test_integer_leaves_count_in_total_but_are_not_learnable():
    _, leaves = module_rows(toy())
    index = next(leaf for leaf in leaves if leaf.name == "index")
    assert (index.params, index.learnable) == (7, False)
    bf16 = next(leaf for leaf in leaves if leaf.name == "inner.w")
    assert (bf16.params, bf16.bytes, bf16.learnable) == (6, 12, True)
    p = count_params(toy())
    assert p.total == 52
    assert p.learnable == 52 - 7  # everything but the int32 array
    assert p.materialized is None  # no input shape: the forward pass is not traced


def test_by_dtype_sums_to_total():
    p = count_params(toy())
    assert p.by_dtype == {
        "bfloat16": 6,  # inner.w
        "complex64": 20,  # spectral, two per element
        "float32": 12 + 3 + 4,  # weight, inner.b, blocks[0].w
        "int32": 7,  # index
    }
    assert sum(p.by_dtype.values()) == p.total
    assert p.elements_by_dtype == {"bfloat16": 6, "complex64": 10, "float32": 19, "int32": 7}


def test_bytes_by_dtype():
    p = count_params(toy())
    _, leaves = module_rows(toy())
    per_dtype: dict[str, int] = {}
    for leaf in leaves:
        per_dtype[leaf.dtype] = per_dtype.get(leaf.dtype, 0) + leaf.bytes
    assert per_dtype == {
        "float32": 4 * (12 + 3 + 4),  # 4 bytes each
        "complex64": 8 * 10,  # 8 bytes per complex element
        "int32": 4 * 7,
        "bfloat16": 2 * 6,
    }
    # The stored elements per dtype times the item size give the same figures...
    for dtype, n in p.elements_by_dtype.items():
        assert per_dtype[dtype] == n * np.dtype(jnp.dtype(dtype)).itemsize
    # ...and they add up to the reported total.
    assert sum(per_dtype.values()) == p.bytes == TOY_BYTES == 196


def test_static_fields_are_not_counted():
    m = toy()
    assert m.frozen.shape == (100,)  # an array description, but in a static field
    assert count_params(m).total == TOY_TOTAL
    _, leaves = module_rows(m)
    assert [leaf.name for leaf in leaves] == [
        "weight",
        "spectral",
        "index",
        "inner.w",
        "inner.b",
        "blocks[0].w",
    ]


def test_concrete_and_abstract_models_count_the_same():
    from archinspect.models.conv_net import ConvNet

    abstract = eqx.filter_eval_shape(
        lambda: ConvNet(2, 2, 3, hidden_channels=4, depth=2, key=jax.random.PRNGKey(0))
    )
    # The same model with real (zero-filled) jax arrays in place of the descriptions.
    concrete = jax.tree_util.tree_map(
        lambda x: jnp.zeros(x.shape, x.dtype) if isinstance(x, jax.ShapeDtypeStruct) else x,
        abstract,
    )
    assert all(isinstance(x, jax.Array) for x in jax.tree_util.tree_leaves(concrete))
    expected = (4 * 2 * 9 + 4) + (4 * 4 * 9 + 4) + (3 * 4 * 9 + 3)  # 2-D, 3x3 kernels
    assert count_params(concrete).total == expected
    assert count_params(abstract).total == expected
    assert count_params(concrete) == count_params(abstract)


# ---------------------------------------------------------------------------------------------
# Module rows and folding


def test_module_rows_of_toy():
    rows, _ = module_rows(toy())
    got = [(r.path, r.type, r.depth, r.own_params, r.params) for r in rows]
    assert got == [
        ("", "Toy", 0, 12 + 20 + 7, 52),  # own: weight, spectral, index
        ("inner", "Inner", 1, 6 + 3, 9),
        ("blocks", "list", 1, 0, 4),
        ("blocks[0]", "Inner", 2, 4, 4),
    ]


@pytest.fixture(scope="module")
def unet_rows():
    # 1-D ClassicUNet, hidden 3, two levels: three levels of nesting below the root.
    model = build_abstract(spec_for("ClassicUNet", 1, 1, 2, hidden_channels=3, num_levels=2))
    rows, leaves = module_rows(model)
    return rows, leaves


def test_unfolded_rows(unet_rows):
    rows, leaves = unet_rows
    assert rows[0].path == "" and rows[0].depth == 0
    total = sum(leaf.params for leaf in leaves)
    assert rows[0].params == total
    # Every node's total is its own arrays plus its children's totals.
    for i, row in enumerate(rows):
        children = [
            r
            for r in rows[i + 1 :]
            if r.depth == row.depth + 1
            and r.path.startswith(row.path)
            and _is_child(row.path, r.path)
        ]
        assert row.params == row.own_params + sum(c.params for c in children), row.path
    assert max(r.depth for r in rows) == 4  # left_arc_blocks (1) [0] (2) [0] (3) .conv_1 (4)
    # Tree (pre-)order: the top-level parts in field order, every row after its parent, and
    # a subtree's rows contiguous right after it.
    assert [r.path for r in rows if r.depth == 1] == [
        "lifting",
        "down_sampling_blocks",
        "left_arc_blocks",
        "up_sampling_blocks",
        "right_arc_blocks",
        "projection",
    ]
    for i, row in enumerate(rows[1:], start=1):
        parent = max(j for j in range(i) if rows[j].depth == row.depth - 1)
        assert _is_child(rows[parent].path, row.path), row.path
    assert [r.path for r in rows[:8]] == [
        "",
        "lifting",
        "lifting.conv_1",
        "lifting.norm_1",
        "lifting.conv_2",
        "lifting.norm_2",
        "down_sampling_blocks",
        "down_sampling_blocks[0]",
    ]
    assert fold(rows, None) == rows


def _is_child(parent: str, path: str) -> bool:
    rest = path[len(parent) :]
    if parent:
        if not (rest.startswith(".") or rest.startswith("[")):
            return False
        rest = rest[1:] if rest.startswith(".") else rest
    # one more path component: either "name" or "[i]"
    if rest.startswith("["):
        return rest.count("[") == 1 and rest.endswith("]")
    return "." not in rest and "[" not in rest


@pytest.mark.parametrize("depth", [0, 1, 2, 3, 4, 10])
def test_fold(unet_rows, depth):
    rows, _ = unet_rows
    kept = fold(rows, depth)
    by_path = {r.path: r for r in rows}
    # Only rows up to the depth stay, in tree order.
    assert [r.path for r in kept] == [r.path for r in rows if r.depth <= depth]
    # Parent totals never change.
    for r in kept:
        assert r.params == by_path[r.path].params
        assert r.own_params == by_path[r.path].own_params
    # The folded counts account for every dropped row.
    assert len(kept) + sum(r.folded for r in kept) == len(rows)
    # Rows at the depth limit carry the rows below them; shallower rows carry none.
    for r in kept:
        below = [x for x in rows if x.depth > depth and _under(r.path, x.path)]
        assert r.folded == (len(below) if r.depth == depth else 0), r.path
    # The parameters still add up: own arrays above the limit plus the totals at the limit.
    assert (
        sum(r.own_params for r in kept if r.depth < depth)
        + sum(r.params for r in kept if r.depth == depth)
    ) == rows[0].params


def _under(parent: str, path: str) -> bool:
    if parent == "":
        return path != ""
    return path.startswith(parent + ".") or path.startswith(parent + "[")


def test_fold_depth_zero_keeps_only_the_root(unet_rows):
    rows, _ = unet_rows
    kept = fold(rows, 0)
    assert len(kept) == 1
    assert kept[0].params == rows[0].params
    assert kept[0].folded == len(rows) - 1


def test_count_report_folds_rows():
    spec = spec_for("ClassicUNet", 1, 1, 2, hidden_channels=3, num_levels=2)
    rows, _ = module_rows(build_abstract(spec))
    for depth in (0, 1, 2, None):
        r = count_report(spec, depth=depth)
        assert r.depth == depth
        assert list(r.rows) == fold(rows, depth)
        assert r.params.total == rows[0].params


# ---------------------------------------------------------------------------------------------
# Abstract building allocates nothing


def classic_unet_by_hand(d: int, i: int, o: int, h: int, levels: int, norm: bool) -> int:
    """ClassicUNet count from its structure (see test_counts.py for the bookkeeping)."""
    K = 3**d
    n = 2 if norm else 0

    def double_conv(a: int, b: int) -> int:
        return (b * a * K + b) + n * b + (b * b * K + b) + n * b

    total = double_conv(i, h)  # lifting
    for level in range(levels):
        c_prev, c_here = h * 2**level, h * 2 ** (level + 1)
        total += c_prev * c_prev * K + c_prev  # down-sampling conv c_prev -> c_prev
        total += double_conv(c_prev, c_here)  # left arc
        total += (c_here // 2) * c_here * K + c_here // 2  # up-sampling c_here -> c_here // 2
        total += double_conv(c_here // 2 + c_prev, c_prev)  # right arc: up + skip -> c_prev
    return total + (o * h + o)  # projection


def test_by_hand_formula_matches_reference():
    assert classic_unet_by_hand(1, 1, 1, 16, 4, True) == 789_089  # README "Families"


def test_huge_model_is_counted_without_allocating():
    spec = spec_for("ClassicUNet", 3, 1, 1, hidden_channels=1024)
    start = time.process_time()
    model = build_abstract(spec)
    p = count_params(model)
    elapsed = time.process_time() - start
    assert p.total == 28_906_436_609  # about 116 GB of float32 if it were allocated
    assert p.bytes == 4 * 28_906_436_609
    assert p.total == classic_unet_by_hand(3, 1, 1, 1024, 4, True)
    # Nothing was allocated: every array leaf is a description, none is a jax.Array.
    leaves = jax.tree_util.tree_leaves(model)
    assert not any(isinstance(x, jax.Array) for x in leaves)
    assert sum(isinstance(x, jax.ShapeDtypeStruct) for x in leaves) > 0
    # CPU seconds of this process, so a loaded machine does not fail it
    assert elapsed < 3.0, f"abstract build + count took {elapsed:.2f} CPU s"


def test_huge_model_matches_pdequinox_abstractly():
    import pdequinox as pdeq

    theirs = eqx.filter_eval_shape(
        lambda: pdeq.arch.ClassicUNet(3, 1, 1, hidden_channels=1024, key=jax.random.PRNGKey(0))
    )
    their_total = sum(
        math.prod(x.shape)
        for x in jax.tree_util.tree_leaves(theirs)
        if isinstance(x, jax.ShapeDtypeStruct)
    )
    assert their_total == 28_906_436_609


# ---------------------------------------------------------------------------------------------
# materialized: the parameters the forward pass reads (README, "archinspect count")


class WithUnused(eqx.Module):
    """A 3-tap conv (3 + 1 parameters) next to a 1000 x 1000 array the forward pass never
    reads: materialized = total - 1,000,000 = 4, by hand."""

    weight: Any
    bias: Any
    unused: Any

    def __call__(self, x):
        return jnp.convolve(x[0], self.weight, mode="same")[None] + self.bias


class UnderCond(eqx.Module):
    """`scale` is read only by one branch of a lax.cond (either may run): it counts; `dead`
    is computed with and the result thrown away: it does not."""

    scale: Any
    shift: Any
    dead: Any

    def __call__(self, x):
        _ = self.dead * 2.0
        return jax.lax.cond(x.sum() > 0, lambda v: v * self.scale, lambda v: v + 1.0, x)


class Broken(eqx.Module):
    weight: Any

    def __call__(self, x):
        raise ValueError("this forward pass cannot run")


def with_unused(**kwargs):
    return WithUnused(
        sds((3,), jnp.float32), sds((1, 1), jnp.float32), sds((1000, 1000), jnp.float32)
    )


def test_an_array_the_forward_pass_never_reads_is_not_materialized():
    p = count_params(with_unused(), (1, 16))
    assert p.total == 3 + 1 + 1_000_000
    assert p.materialized == p.total - 1_000_000 == 4
    assert p.unread == ("unused",)


def test_a_parameter_read_under_one_cond_branch_is_materialized():
    model = UnderCond(sds((8,), jnp.float32), sds((8,), jnp.float32), sds((5,), jnp.float32))
    p = count_params(model, (8,))
    assert (p.total, p.materialized) == (21, 8)  # scale read; shift and dead never
    assert set(p.unread) == {"shift", "dead"}


def test_count_says_when_materialized_cannot_be_measured():
    summary, notes = measured_summary(
        Broken(sds((3,), jnp.float32)),
        module_rows(Broken(sds((3,), jnp.float32)))[1],
        (1, 8),
        "float32",
    )
    assert summary.total == 3 and summary.materialized is None
    assert notes == (
        "materialized not measured: the forward pass fails on input 1×8 (ValueError: this "
        "forward pass cannot run); total and learnable are exact",
    )


def test_materialized_in_json_and_table_of_a_target(tmp_path):
    from typer.testing import CliRunner

    from archinspect.cli import app

    spec = tmp_path / "unused.yaml"
    spec.write_text(
        "model:\n  target: tests.test_params:with_unused\ninput:\n  resolution: [16]\n"
        "  channels: 1\n"
    )
    runner = CliRunner()
    result = runner.invoke(app, ["count", str(spec), "--trust", "tests", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["params"]["total"] == 1_000_004
    assert data["params"]["materialized"] == 4
    assert data["notes"] == [
        "1 array the forward pass never reads, not materialized: unused (1,000,000)"
    ]
    table = runner.invoke(app, ["count", str(spec), "--trust", "tests"]).output
    assert re.search(r"^materialized +4$", table, re.MULTILINE)
