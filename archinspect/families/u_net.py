"""ClassicUNet and ModernUNet (models: archinspect/models/u_net.py).

Receptive field, exactly. Grid i has cells 2**i input cells apart; the left arc goes down by
stride-2 3-convs, the right arc comes up by zero insertion and a 3-conv, and each level's skip
is concatenated with the up-sampled coarser result. The up-sampling reach is one fine cell
(2**i input cells) and depends on the parity of the output cell, so the field depends on the
output position modulo 2**num_levels (the period). pdequinox instead scales each up-sampling
conv's (1, 1) by the coarser grid's factor 2**(i+1) and adds everything up: that counts every
up-sampling step twice as wide as it is (and ignores parity), which is why its 137
(ClassicUNet) and 227 (ModernUNet) for the 1-D defaults exceed the exact 122 and 212.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archinspect.families.family import (
    BLOCKS_SWEEP,
    BOUNDARY,
    Args,
    Family,
    activation,
    hidden_channels,
)
from archinspect.spec.kinds import Arg, Bool, Int, OptionalIntList
from archinspect.spec.messages import yaml_repr

if TYPE_CHECKING:
    from archinspect.analysis.receptive_field.analytic import Composition, Cone

LEVELS = Arg(
    "num_levels",
    Int(minimum=0),
    4,
    help="number of down-sampling levels",
    sweep=tuple(range(1, 6)),
)


def _cone(num_levels: int, num_blocks: int) -> Cone:
    """Cone of an output cell, in input cells; every cone maps a cell of its own grid."""
    from archinspect.analysis.receptive_field import analytic as a

    # Double-conv and residual blocks alike: two 3-convs (a bypass lies inside their cone).
    block = a.then(a.conv(3), a.conv(3))
    blocks = a.then(*([block] * num_blocks))
    # skip[i]: the left arc's output on grid i (grid 0: the lifting block).
    skip: list[Cone] = [block]
    for i in range(1, num_levels + 1):
        skip.append(a.then(a.down_at(skip[i - 1]), blocks))
    x = skip[num_levels]
    for i in reversed(range(num_levels)):
        # Concatenate the skip with the up-sampled coarser result, then the right-arc blocks.
        x = a.then(a.union(skip[i], a.up_at(x)), blocks)
    return x


def _norms(args: Args, modern: bool) -> list[str]:
    """Paths of the GroupNorms, in call order (they couple every cell through statistics)."""
    if not args["use_norm"]:
        return []
    nb = args["num_blocks"] if modern else 1
    h = args["hidden_channels"]
    levels = args["num_levels"]
    mult = args.get("channel_multipliers") or [2 ** (i + 1) for i in range(levels)]
    width = [h] + [h * m for m in mult]

    def block(path: str, c_in: int, c_out: int) -> list[str]:
        own = [f"{path}.norm_1", f"{path}.norm_2"]
        return own + ([f"{path}.bypass_norm"] if modern and c_in != c_out else [])

    paths = block("lifting", args["in_channels"], h)
    for i in range(levels):
        for b in range(nb):
            c_in = width[i] if b == 0 else width[i + 1]
            paths += block(f"left_arc_blocks[{i}][{b}]", c_in, width[i + 1])
    for i in reversed(range(levels)):
        for b in range(nb):
            c_in = width[i + 1] // 2 + width[i] if b == 0 else width[i]
            paths += block(f"right_arc_blocks[{i}][{b}]", c_in, width[i])
    return paths


def _receptive_field(modern: bool):
    def receptive_field(args: Args) -> Composition:
        from archinspect.analysis.receptive_field import analytic as a
        from archinspect.report import GlobalSource

        levels = args["num_levels"]
        cone = _cone(levels, args["num_blocks"] if modern else 1)
        norms = tuple(GlobalSource(p, "GroupNorm", "normalization") for p in _norms(args, modern))
        return a.stencil(cone, 2**levels, norms)

    return receptive_field


MAX_SHOWN_LEVELS = 64  # beyond, 2**num_levels is not written out (no input is that large)


def _check_input(name: str) -> Callable[[Args, tuple[int, ...], Any], str | None]:
    """Every stride-2 level halves each axis and the right arc doubles it back to be
    concatenated with the skip: the model (`_UNet.__call__`) takes exactly the sizes that
    2**num_levels divides; any such size, down to 2**num_levels itself (one coarsest cell)."""

    def check_input(args: Args, resolution: tuple[int, ...], as_written: Any) -> str | None:
        levels = args["num_levels"]
        # 2**levels divides n when n has that many trailing zero bits (no 2**levels is formed
        # for an absurd num_levels, whose power would have millions of digits).
        bad = [n for n in resolution if (n & -n).bit_length() - 1 < levels]
        if not bad:
            return None
        rule = f"a {name} with num_levels={levels} needs every spatial size divisible by "
        if levels > MAX_SHOWN_LEVELS:
            return f"{rule}2**{levels}, got {yaml_repr(as_written)}"
        factor = 2**levels
        below, above = bad[0] // factor * factor, -(-bad[0] // factor) * factor
        near = f"{below} or {above}" if below else f"{above} or {above + factor}"
        return f"{rule}2**{levels} = {factor} (e.g. {near}), got {yaml_repr(as_written)}"

    return check_input


def _check_multipliers(args: Args) -> list[tuple[str, str]]:
    mult = args.get("channel_multipliers")
    levels = args.get("num_levels")
    if isinstance(mult, list) and isinstance(levels, int) and len(mult) != levels:
        return [
            (
                "channel_multipliers",
                f"must have one entry per level (num_levels={levels}), got {len(mult)}",
            )
        ]
    return []


CLASSIC = Family(
    "ClassicUNet",
    "U-Net with double-conv blocks, strided-conv down- and transposed-conv up-sampling",
    "archinspect.models.u_net:ClassicUNet",
    (
        hidden_channels(16, "channels at the finest level"),
        LEVELS,
        Arg("use_norm", Bool(), True, help="GroupNorm(1) after each conv"),
        activation(),
        BOUNDARY,
    ),
    receptive_field=_receptive_field(modern=False),
    separable=True,
    check_input=_check_input("ClassicUNet"),
    input_rule_complete=True,
    same_as=("pdequinox.arch:ClassicUNet",),
)

MODERN = Family(
    "ModernUNet",
    "U-Net with pre-activation residual blocks and per-level channel multipliers",
    "archinspect.models.u_net:ModernUNet",
    (
        hidden_channels(16, "channels at the finest level"),
        LEVELS,
        Arg("num_blocks", Int(), 2, help="residual blocks per level and arc", sweep=BLOCKS_SWEEP),
        Arg(
            "channel_multipliers",
            OptionalIntList(),
            None,
            help="channel multiplier per level; null means 2, 4, 8, ...",
        ),
        Arg("use_norm", Bool(), True, help="GroupNorm(1) before each conv"),
        activation(),
        BOUNDARY,
    ),
    receptive_field=_receptive_field(modern=True),
    separable=True,
    check_input=_check_input("ModernUNet"),
    input_rule_complete=True,
    cross_check=_check_multipliers,
    same_as=("pdequinox.arch:ModernUNet",),
)

FAMILIES = (CLASSIC, MODERN)
