"""Every built-in family declares, JAX-free, exactly the input sizes its model takes (README "The
spec file"): `validate` refuses the others at input.resolution, and the structural receptive
field trusts a validated spec instead of tracing the model once more to find out.

The oracle is the model itself: built abstractly, its forward pass traced (`jax.make_jaxpr`)
on an input of each size of a grid that straddles every edge (1, 2, the minimum, multiples of
the divisor and their neighbours). It takes the input when the trace succeeds and no array in
its top level is empty (a VALID window wider than its input gives a size-0 array, not an
error, in JAX).
"""

from __future__ import annotations

import itertools
from typing import Any

import jax
import jax.numpy as jnp
import pytest
import yaml

from archinspect.errors import SpecError
from archinspect.families import FAMILIES
from archinspect.spec import load_spec_text
from tests.conftest import slow_after

GRID = (1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 22, 23, 24, 31, 32, 33)
SMALL = (1, 2, 4, 5, 8, 16)  # per axis, for the 2-D cases

# (family, arguments, the sizes per axis to try); the first case of each family runs in every
# `make test`, the others in `make test-all`.
CASES: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("ConvNet", {"depth": 1, "kernel_size": 11, "boundary_mode": "neumann"}, (1, 2, 5, 6, 11)),
    ("ClassicResNet", {"num_blocks": 1, "boundary_mode": "neumann"}, (1, 2, 3)),
    ("ModernResNet", {"num_blocks": 1}, (1, 2, 3)),
    ("DilatedResNet", {"num_blocks": 1, "dilation_rates": [1, 8]}, (1, 2, 9, 17)),
    ("ClassicUNet", {"num_levels": 2}, GRID),
    ("ModernUNet", {"num_levels": 3, "num_blocks": 1, "channel_multipliers": [1, 1, 1]}, GRID),
    ("ClassicFNO", {"num_modes": 4, "num_blocks": 1}, GRID),
    # VALID: 3 convs of 3 taps take 2 cells off each: 3 * 2 + 1 = 7 cells at least.
    ("GroupCNN", {"padding": "VALID", "kernel_size": 3, "hidden_channels": [1, 1]}, (1, 6, 7, 8)),
    ("MLP", {"num_points": 8, "width_size": 4, "depth": 1}, GRID),
    ("TCN", {"num_channels": [2, 2], "kernel_size": 3}, (1, 2, 9)),
    (
        "Sequential",
        {
            "layers": [
                {"conv": {"out_channels": 2, "kernel_size": 5, "stride": 2, "padding": "VALID"}},
                {"max_pool": {"window": 3, "stride": 2}},
            ]
        },
        GRID,
    ),
    # the long tail
    ("ConvNet", {"depth": 2, "kernel_size": 4, "boundary_mode": "periodic"}, (1, 2, 3, 4)),
    ("ConvNet", {"depth": 1, "kernel_size": 3, "boundary_mode": "dirichlet"}, (1, 2)),
    (
        "DilatedResNet",
        {"num_blocks": 1, "dilation_rates": [4], "boundary_mode": "neumann"},
        (1, 2, 5),
    ),
    ("ClassicUNet", {"num_levels": 4}, GRID + (47, 48, 49)),
    ("ClassicUNet", {"num_levels": 2, "num_spatial_dims": 2}, SMALL),
    ("ModernUNet", {"num_levels": 0, "num_blocks": 1}, (1, 2, 3)),
    ("ClassicFNO", {"num_modes": 1, "num_blocks": 1}, (1, 2, 3)),
    ("ClassicFNO", {"num_modes": 3, "num_blocks": 1, "num_spatial_dims": 2}, SMALL),
    ("GroupCNN", {"padding": "SAME", "kernel_size": 4, "hidden_channels": [1]}, SMALL),
    ("GroupCNN", {"padding": "CIRCULAR", "kernel_size": 5, "hidden_channels": [1]}, SMALL),
    ("MLP", {"num_points": 4, "width_size": 4, "depth": 1, "num_spatial_dims": 2}, SMALL),
    ("TCN", {"num_channels": [2, 2, 2], "kernel_size": 2}, (1, 2, 3)),
    (
        "Sequential",
        {
            "num_spatial_dims": 2,
            "layers": [
                {"conv": {"out_channels": 2, "kernel_size": 3, "padding": "CIRCULAR"}},
                {"conv_transpose": {"out_channels": 2, "kernel_size": 3, "stride": 2}},
                {"avg_pool": {"window": 2, "stride": 2, "padding": "VALID"}},
                {"spectral_conv": {"out_channels": 1, "num_modes": 2}},
            ],
        },
        SMALL,
    ),
]


def _spec_text(family: str, args: dict[str, Any], sizes: tuple[int, ...]) -> str:
    model: dict[str, Any] = {
        "family": family,
        "num_spatial_dims": 1,
        "in_channels": 1,
        "out_channels": 1,
        "hidden_channels": 2,
    }
    if family in ("GroupCNN", "TCN", "MLP", "Sequential"):
        del model["hidden_channels"]  # theirs are lists (or absent)
    if family == "GroupCNN":
        model["num_spatial_dims"] = 2
    if family == "Sequential":
        del model["out_channels"]
    model.update(args)
    return yaml.safe_dump({"model": model, "input": {"resolution": list(sizes)}})


def declared(family: str, args: dict[str, Any], sizes: tuple[int, ...]) -> bool:
    """Whether validation takes the input; a refusal must name the input (or, for Sequential's
    shape walk, a layer)."""
    try:
        load_spec_text(_spec_text(family, args, sizes), "t.yaml")
    except SpecError as exc:
        paths = {p.path for p in exc.problems}
        assert paths <= {"input.resolution"} or family == "Sequential", exc.problems
        return False
    return True


def _empty(jaxpr: Any) -> bool:
    """Whether an array the forward pass computes has a zero-size axis. Only its own
    equations: nested calls (a group conv's filter bank) may slice empty pieces of weights."""
    return any(0 in getattr(v.aval, "shape", ()) for eqn in jaxpr.eqns for v in eqn.outvars)


def model_takes(model: Any, shape: tuple[int, ...]) -> bool:
    import equinox as eqx

    from archinspect.analysis.params import is_array_like

    dynamic, static = eqx.partition(model, is_array_like)
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    try:
        closed = jax.make_jaxpr(lambda d, x: eqx.combine(d, static)(x))(dynamic, x)
    except (ValueError, TypeError):
        return False
    return not _empty(closed.jaxpr)


def _model(family: str, args: dict[str, Any], sizes: tuple[int, ...]) -> Any:
    """The model built abstractly from a spec that passes at `sizes` (weights that depend on
    the input size, as a Sequential's, are not in these cases)."""
    from archinspect.build import build_abstract

    return build_abstract(load_spec_text(_spec_text(family, args, sizes), "t.yaml"))


@pytest.mark.parametrize(("family", "args", "grid"), slow_after(CASES, keep=11))
def test_validation_takes_exactly_the_inputs_the_model_takes(family, args, grid):
    dims = args.get("num_spatial_dims", 2 if family == "GroupCNN" else 1)
    inputs = list(itertools.product(grid, repeat=dims))
    ok = [sizes for sizes in inputs if declared(family, args, sizes)]
    assert ok, "no size of the grid is valid: the case tests nothing"
    model = _model(family, args, ok[-1])
    wrong = [
        (sizes, declared(family, args, sizes))
        for sizes in inputs
        if declared(family, args, sizes) != model_takes(model, (1, *sizes))
    ]
    assert wrong == []


def test_every_built_in_family_declares_its_whole_input_rule_and_is_tested():
    assert {f for f, _, _ in CASES} == set(FAMILIES)
    assert all(f.input_rule_complete for f in FAMILIES.values())


def _problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(SpecError, match="is not a valid archinspect spec") as info:
        load_spec_text(text, "t.yaml")
    return [(p.path, p.message) for p in info.value.problems]


def test_the_rules_by_hand():
    unet = "model: {family: ModernUNet, num_spatial_dims: 2, in_channels: 1, out_channels: 1}\n"
    # 4 levels: 2**4 = 16 divides 32 but not 40; the multiples around 40 are 32 and 48.
    assert _problems(unet + "input: {resolution: [32, 40]}\n") == [
        (
            "input.resolution",
            "a ModernUNet with num_levels=4 needs every spatial size divisible by 2**4 = 16 "
            "(e.g. 32 or 48), got [32, 40]",
        )
    ]
    load_spec_text(unet + "input: {resolution: [16, 48]}\n", "t.yaml")
    fno = "model: {family: ClassicFNO, num_spatial_dims: 2, in_channels: 1, out_channels: 1}\n"
    # 12 modes: 2 * 12 = 24 cells on the first axis; the last keeps n // 2 + 1 >= 12, n >= 22.
    load_spec_text(fno + "input: {resolution: [24, 22]}\n", "t.yaml")
    fno_needs = (
        "a ClassicFNO with num_modes=12 needs at least 24 cells on every axis but the last "
        "(n // 2 >= 12 frequencies each side of zero) and 22 on the last (the real FFT's "
        "n // 2 + 1 >= 12), got {}"
    )
    assert _problems(fno + "input: {resolution: [23, 22]}\n") == [
        ("input.resolution", fno_needs.format("[23, 22]"))
    ]
    assert _problems(fno + "input: {resolution: [24, 21]}\n")[0][0] == "input.resolution"
    # Given by input.shape (channels first), the problem is located there.
    assert _problems(fno + "input: {shape: [1, 24, 21], layout: channels_first}\n") == [
        ("input.shape", fno_needs.format("[24, 21]"))
    ]
    gcnn = (
        "model: {family: GroupCNN, num_spatial_dims: 2, in_channels: 1, out_channels: 1, "
        "padding: VALID, kernel_size: 5, hidden_channels: [2, 2]}\n"
    )
    # a lifting conv and two group convs of 5 taps: 3 * 4 + 1 = 13 cells; not square is fine.
    load_spec_text(gcnn + "input: {resolution: [13, 40]}\n", "t.yaml")
    assert _problems(gcnn + "input: {resolution: [12, 40]}\n") == [
        (
            "input.resolution",
            "a GroupCNN with padding VALID takes kernel_size - 1 = 4 cells off every axis in "
            "each of its 3 convolutions, so it needs at least 3 * 4 + 1 = 13 cells per axis, "
            "got [12, 40]",
        )
    ]


def test_an_absurd_number_of_levels_is_refused_without_forming_its_power():
    # 2**(10**8) has some 30 million digits: the rule counts trailing zero bits instead.
    unet = (
        "model: {family: ClassicUNet, num_spatial_dims: 1, in_channels: 1, out_channels: 1, "
        "num_levels: 100000000}\ninput: {resolution: [1024]}\n"
    )
    assert _problems(unet) == [
        (
            "input.resolution",
            "a ClassicUNet with num_levels=100000000 needs every spatial size divisible by "
            "2**100000000, got [1024]",
        )
    ]
    # 1024 = 2**10: ten levels take it, eleven do not (the nearest multiples of 2048: 2048, 4096)
    load_spec_text(unet.replace("100000000", "10"), "t.yaml")
    assert _problems(unet.replace("100000000", "11"))[0][1].endswith(
        "2**11 = 2048 (e.g. 2048 or 4096), got [1024]"
    )
