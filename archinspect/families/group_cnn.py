"""GroupCNN: a lifting conv Z2 -> G and group convs G -> G, G = C4 or D4
(model: archinspect/models/group_cnn.py, layers: archinspect/layers/group_conv.py).

Widths are in G-channels: a G-channel of a C4 (D4) feature map is 4 (8) plain channels, one per
orientation. A plain CNN of N channels compares with a G-CNN of width w in two ways, because a
G -> G layer of w G-channels stores S w^2 k^2 weights but computes like a plain conv of S w
channels, (S w)^2 k^2 per output cell:
- equal parameters: S w^2 = N^2, so w = N / sqrt(S) (C4: N/2, D4: N/2.83);
- equal compute: (S w)^2 = N^2, so w = N / S (C4: N/4, D4: N/8).
`archinspect count --match-cnn N --by params|compute` applies either (README "Group-equivariant
CNNs").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from archinspect.families.family import Args, Family, activation
from archinspect.groups import GROUPS
from archinspect.spec.kinds import Arg, Bool, Choice, Int, IntList, Kind
from archinspect.spec.messages import did_you_mean, one_of, yaml_repr

PADDINGS = ("SAME", "VALID", "CIRCULAR")
POOLS = ("max", "mean")
MATCH_BY = ("params", "compute")


@dataclass(frozen=True)
class Pool(Kind):
    """max, mean, or null (no pooling over orientations)."""

    def type_name(self) -> str:
        return "max | mean | null"

    def check(self, value: Any) -> str | None:
        if value is None or value in POOLS:
            return None
        hint = did_you_mean(value, POOLS) if isinstance(value, str) else ""
        return f"must be max, mean or null, got {yaml_repr(value)}{hint}"

    def json_schema(self) -> dict:
        return {"oneOf": [{"type": "string", "enum": list(POOLS)}, {"type": "null"}]}


def matched_width(n: int, order: int, by: str) -> int:
    """The G-channel width that matches a plain CNN of n channels, rounded down (the G-CNN never
    exceeds the plain CNN's parameters or compute per hidden layer), at least 1. Integer
    arithmetic: floor(n / sqrt(S)) is isqrt(n^2 // S)."""
    if by not in MATCH_BY:
        raise ValueError(f"by must be one of {one_of(MATCH_BY)}, got {by!r}")
    w = math.isqrt(n * n // order) if by == "params" else n // order
    return max(w, 1)


def match_cnn(args: Args, n: int, by: str) -> tuple[Args, str]:
    """Every hidden width set to the G-channel width that matches a plain CNN of n channels."""
    s = GROUPS[args["group"]]
    w = matched_width(n, s, by)
    hidden = [w] * len(args["hidden_channels"])
    rule = f"{n}/√{s} = {n / math.sqrt(s):.2f}" if by == "params" else f"{n}/{s} = {n / s:.2f}"
    other = "compute" if by == "params" else "params"
    note = (
        f"matched to a plain CNN of {n} channels by {by}: hidden_channels = {hidden} "
        f"G-channels of {s} orientations ({rule}, rounded down, at least 1); a hidden layer "
        f"stores {s}·{w}²·k² = {s * w * w:,}·k² weights against {n}²·k² = {n * n:,}·k² for the "
        f"plain conv, and computes like a plain conv of {s}·{w} = {s * w} channels "
        f"(--by {other} for the other rule)"
    )
    return {"hidden_channels": hidden}, note


def symmetry(args: Args) -> tuple[str, int | None]:
    """Orientations on the output's channel axis (C * S, orientation fastest), or none when
    pooled over them."""
    return args["group"], None if args.get("pool_orientations") else 0


def cross_check(args: Args) -> list[tuple[str, str]]:
    dims = args.get("num_spatial_dims")
    if dims != 2:
        return [
            (
                "num_spatial_dims",
                "must be 2 for a GroupCNN (its groups rotate and mirror the plane), "
                f"got {yaml_repr(dims)}",
            )
        ]
    return []


def check_input(args: Args, resolution: tuple[int, ...], as_written: Any) -> str | None:
    """SAME and CIRCULAR keep every size (the input need not be square: only the filters are
    rotated); VALID takes kernel_size - 1 cells off every axis in each of the convolutions
    (the lifting one and one per later width), and the last must keep one cell."""
    k, convs = args["kernel_size"], len(args["hidden_channels"]) + 1
    need = convs * (k - 1) + 1
    if args["padding"] != "VALID" or all(n >= need for n in resolution):
        return None
    return (
        f"a GroupCNN with padding VALID takes kernel_size - 1 = {k - 1} cells off every axis "
        f"in each of its {convs} convolutions, so it needs at least {convs} * {k - 1} + 1 = "
        f"{need} cells per axis, got {yaml_repr(as_written)}"
    )


FAMILY = Family(
    "GroupCNN",
    "group-equivariant CNN: a lifting conv Z2->G, then group convs G->G (G = C4 or D4), 2-D",
    "archinspect.models.group_cnn:GroupCNN",
    (
        Arg(
            "group",
            Choice(tuple(GROUPS)),
            "C4",
            help="C4: rotations by 90° (S=4); D4: rotations and mirrors (S=8)",
        ),
        Arg(
            "hidden_channels",
            IntList(),
            [8],
            help="G-channel widths of the hidden layers (the lifting conv's output first)",
        ),
        Arg("kernel_size", Int(), 3, help="k of every k x k filter", sweep=(1, 2, 3, 5, 7)),
        Arg("padding", Choice(PADDINGS), "SAME", help="of every conv: SAME, VALID or CIRCULAR"),
        Arg("use_bias", Bool(), True, help="a bias per G-channel (shared by its orientations)"),
        activation(),
        Arg(
            "pool_orientations",
            Pool(),
            None,
            help="max or mean over the orientations at the end (an invariant output), or null",
        ),
    ),
    cross_check=cross_check,
    check_input=check_input,
    input_rule_complete=True,
    match_cnn=match_cnn,
    symmetry=symmetry,
    notes=(
        "learnable counts the stored base filters; materialized the filter bank each layer builds "
        "from them (S rotated/mirrored copies), measured from the traced forward pass",
        "widths are G-channels (S plain channels each). Against a plain CNN of N channels: equal "
        "parameters => N/sqrt(S) G-channels (C4: N/2, D4: N/2.83); equal compute => N/S "
        "(C4: N/4, D4: N/8). `archinspect count SPEC --match-cnn N --by params|compute` sets "
        "every hidden width so (rounded down, at least 1) and counts",
        "`archinspect equivariance SPEC` checks numerically that rotating (and mirroring) the "
        "input rotates the output and permutes its orientations, and names what breaks it",
    ),
)
