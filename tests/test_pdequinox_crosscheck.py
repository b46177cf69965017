"""archinspect's built-in families against pdequinox 0.1.2, the test-only oracle.

Both sides are built abstractly (`eqx.filter_eval_shape`), so no weight is allocated; the
pdequinox count is the plain sum of its ShapeDtypeStruct leaves. For every cell of the grid:

- the totals agree exactly;
- each top-level part (lifting, blocks[i], down_sampling_blocks[i], ...) agrees, so a
  mismatch names where it sits;
- the multiset of (shape, dtype) of the parameter arrays agrees. The one layout that differs
  is the FNO's spectral weight: pdequinox stores float32 `weights_real` and `weights_imag` of
  shape (2**(d-1), in, out, m, ..., m), archinspect one complex64 array; there the counts are
  compared (each complex element is two real parameters), not the arrays.

pdequinox refuses num_blocks=0 for its Sequential networks (ResNets, FNO, DilatedResNet):
`test_pdequinox_refuses_zero_blocks` pins exactly that, archinspect builds those networks
(lifting and projection only), and test_counts.py checks their counts by hand.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections import Counter

import equinox as eqx
import jax
import numpy as np
import pdequinox as pdeq
import pytest

from archinspect.analysis.params import count_params, module_rows
from archinspect.build import build_abstract
from archinspect.spec.load import load_spec_text

DIMS = (1, 2, 3)
CHANNELS = ((1, 1), (3, 2))

# Per family, argument sets that vary every argument that changes the count. Kept small so the
# whole grid (x 3 dims x 2 channel pairs) runs in a few seconds on two cores.
GRID: dict[str, list[dict]] = {
    "ConvNet": [
        {},
        dict(hidden_channels=4, depth=2, kernel_size=3),
        dict(hidden_channels=5, depth=0, use_final_bias=False),
        dict(hidden_channels=3, depth=3, kernel_size=4, use_bias=False),
        dict(hidden_channels=2, depth=1, kernel_size=2, boundary_mode="dirichlet"),
        dict(hidden_channels=6, depth=2, kernel_size=5, use_bias=False, use_final_bias=False),
    ],
    "ClassicResNet": [
        {},
        dict(hidden_channels=4, num_blocks=1),
        dict(hidden_channels=5, num_blocks=2, use_norm=True),
    ],
    "ModernResNet": [
        {},
        dict(hidden_channels=4, num_blocks=1, use_norm=False),
        dict(hidden_channels=5, num_blocks=3, boundary_mode="neumann"),
    ],
    "ClassicUNet": [
        {},
        dict(hidden_channels=4, num_levels=1, use_norm=False),
        dict(hidden_channels=5, num_levels=2),
        dict(hidden_channels=3, num_levels=0),
        dict(hidden_channels=3, num_levels=3, use_norm=False),
    ],
    "ModernUNet": [
        {},
        dict(hidden_channels=4, num_levels=1, num_blocks=1, use_norm=False),
        dict(hidden_channels=5, num_levels=2, num_blocks=2),
        dict(hidden_channels=3, num_levels=2, num_blocks=1, channel_multipliers=[1, 3]),
        dict(
            hidden_channels=7,
            num_levels=2,
            num_blocks=2,
            channel_multipliers=[3, 1],
            use_norm=False,
        ),
        dict(hidden_channels=3, num_levels=0),
        dict(hidden_channels=5, num_levels=3, num_blocks=3, channel_multipliers=[2, 2, 5]),
    ],
    "ClassicFNO": [
        {},
        dict(hidden_channels=4, num_modes=3, num_blocks=1),
        dict(hidden_channels=5, num_modes=2, num_blocks=2),
        dict(hidden_channels=3, num_modes=4, num_blocks=3),
    ],
    "DilatedResNet": [
        {},
        dict(hidden_channels=4, num_blocks=1, dilation_rates=[1, 2], use_norm=False),
        dict(hidden_channels=5, num_blocks=2, dilation_rates=[1, 2, 4, 2, 1]),
        dict(hidden_channels=3, num_blocks=3, dilation_rates=[3]),
    ],
    "MLP": [
        dict(num_points=16),
        dict(num_points=5, width_size=7, depth=2),
        dict(num_points=4, width_size=3, depth=0, use_final_bias=False),
        dict(num_points=3, width_size=6, depth=1, use_bias=False),
    ],
}

CELLS = [
    pytest.param(
        family,
        d,
        io,
        kwargs,
        id=f"{family}-{d}d-{io[0]}to{io[1]}-{i}",
        # the 3-D builds of pdequinox run eagerly: every family's first cell in `make test`,
        # the rest with `make test-all`
        marks=[pytest.mark.slow] if d == 3 and i > 0 else [],
    )
    for family, cells in GRID.items()
    for i, kwargs in enumerate(cells)
    for d in DIMS
    for io in CHANNELS
]


def archinspect_model(family: str, d: int, io: tuple[int, int], kwargs: dict):
    """Through the spec path the CLI uses (YAML -> validated Spec -> abstract build)."""
    model = {
        "family": family,
        "num_spatial_dims": d,
        "in_channels": io[0],
        "out_channels": io[1],
        **kwargs,
    }
    return build_abstract(load_spec_text(f"model: {json.dumps(model)}\n", "crosscheck"))


def pdequinox_model(family: str, d: int, io: tuple[int, int], kwargs: dict):
    # pdequinox takes tuples where the spec has lists; activations are left at their defaults
    # (they hold no parameters).
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    cls = getattr(pdeq.arch, family)
    return eqx.filter_eval_shape(lambda: cls(d, io[0], io[1], key=jax.random.PRNGKey(0), **kw))


def abstract_leaves(tree) -> list[jax.ShapeDtypeStruct]:
    return [x for x in jax.tree_util.tree_leaves(tree) if isinstance(x, jax.ShapeDtypeStruct)]


def pdequinox_count(tree) -> int:
    return sum(math.prod(x.shape) for x in abstract_leaves(tree))


def is_spectral(path) -> bool:
    last = path[-1]
    return isinstance(last, jax.tree_util.GetAttrKey) and last.name in (
        "weights_real",
        "weights_imag",
    )


def parts(model) -> list[tuple[str, object]]:
    """Top-level parameter-holding fields of an archinspect model, lists split per element."""
    out = []
    for f in dataclasses.fields(model):
        if f.metadata.get("static", False):
            continue
        value = getattr(model, f.name)
        if isinstance(value, (list, tuple)):
            out.extend((f"{f.name}[{i}]", v) for i, v in enumerate(value))
        else:
            out.append((f.name, value))
    return out


def get_part(model, name: str):
    field_name, _, index = name.partition("[")
    value = getattr(model, field_name)
    return value[int(index[:-1])] if index else value


@functools.cache
def _ours(family: str, d: int, io: tuple[int, int], kwargs_json: str):
    return archinspect_model(family, d, io, json.loads(kwargs_json))


@functools.cache
def _theirs(family: str, d: int, io: tuple[int, int], kwargs_json: str):
    return pdequinox_model(family, d, io, json.loads(kwargs_json))


def build_both(family, d, io, kwargs):
    """Both models, built once per cell and shared by the two tests below."""
    key = (family, d, io, json.dumps(kwargs, sort_keys=True))
    return _ours(*key), _theirs(*key)


@pytest.mark.parametrize("family, d, io, kwargs", CELLS)
def test_total_and_parts_match_pdequinox(family, d, io, kwargs):
    ours, theirs = build_both(family, d, io, kwargs)
    assert count_params(ours).total == pdequinox_count(theirs)
    for name, part in parts(ours):
        assert count_params(part).total == pdequinox_count(get_part(theirs, name)), name


@pytest.mark.parametrize("family, d, io, kwargs", CELLS)
def test_array_shapes_match_pdequinox(family, d, io, kwargs):
    ours, theirs = build_both(family, d, io, kwargs)
    _, leaves = module_rows(ours)
    our_real = Counter((leaf.shape, leaf.dtype) for leaf in leaves if leaf.dtype != "complex64")
    our_complex = [leaf for leaf in leaves if leaf.dtype == "complex64"]

    flat, _ = jax.tree_util.tree_flatten_with_path(theirs)
    their_arrays = [(p, x) for p, x in flat if isinstance(x, jax.ShapeDtypeStruct)]
    their_real = Counter(
        (tuple(x.shape), np.dtype(x.dtype).name) for p, x in their_arrays if not is_spectral(p)
    )
    their_spectral = [x for p, x in their_arrays if is_spectral(p)]

    assert our_real == their_real
    if family == "ClassicFNO":
        # Different layouts: compare real parameters (a complex element is two of them).
        assert sum(leaf.params for leaf in our_complex) == pdequinox_count(their_spectral)
        assert len(their_spectral) == 2 * len(our_complex)
    else:
        assert our_complex == []
        assert their_spectral == []


ZERO_BLOCKS = ("ClassicResNet", "ModernResNet", "ClassicFNO", "DilatedResNet")


@pytest.mark.parametrize("family", ZERO_BLOCKS)
def test_pdequinox_refuses_zero_blocks(family):
    """pdequinox's Sequential networks need a block; archinspect builds lifting + projection.

    1-D, in = 2, out = 3, hidden 4: lifting (2*4 + 4) + projection (4*3 + 3) = 12 + 15 = 27,
    the same in every family (their liftings and projections are 1x1 convs with bias)."""
    with pytest.raises(ValueError, match=r"^num_blocks must be at least 1($|\n)"):
        pdequinox_model(family, 1, (2, 3), dict(hidden_channels=4, num_blocks=0))
    ours = archinspect_model(family, 1, (2, 3), dict(hidden_channels=4, num_blocks=0))
    assert count_params(ours).total == 2 * 4 + 4 + 4 * 3 + 3 == 27


# Families with no pdequinox counterpart, and where their oracle lives instead.
NOT_IN_PDEQUINOX = {
    "Sequential": "tests/test_sequential_flax.py (flax.nnx and jax.lax)",
    "TCN": "tests/test_tcn.py (by hand, and the same network from equinox.nn.Conv1d)",
    "GroupCNN": "tests/test_group_cnn.py (by hand; its banks against numpy's rot90 and flips)",
}


def test_grid_covers_every_family():
    """Every family with a pdequinox counterpart (its `same_as`) is cross-checked."""
    from archinspect.families import FAMILIES

    pdequinox = {
        n for n, f in FAMILIES.items() if any(p.startswith("pdequinox.") for p in f.same_as)
    }
    assert set(GRID) == pdequinox
    # every other family names the oracle that checks its counts instead
    assert set(FAMILIES) - pdequinox == set(NOT_IN_PDEQUINOX)
