"""ClassicResNet and ModernResNet: 1x1 lifting, residual blocks of two 3-convs, 1x1 projection
(models: archinspect/models/res_net.py). They differ only in norm placement and its default."""

from __future__ import annotations

from typing import TYPE_CHECKING

from archinspect.families.family import (
    BOUNDARY,
    Args,
    Family,
    activation,
    hidden_channels,
    num_blocks,
)
from archinspect.spec.kinds import Arg, Bool

if TYPE_CHECKING:
    from archinspect.analysis.receptive_field.analytic import Composition


def receptive_field(args: Args) -> Composition:
    from archinspect.analysis.receptive_field import analytic as a
    from archinspect.report import GlobalSource

    # Two 3-convs per block; the 1x1 (or identity) bypass lies inside their cone.
    block = a.then(a.conv(3), a.conv(3))
    norms = tuple(
        GlobalSource(f"blocks[{b}].norm_{j}", "GroupNorm", "normalization")
        for b in range(args["num_blocks"])
        for j in (1, 2)
        if args["use_norm"]
    )
    return a.stencil(a.then(*([block] * args["num_blocks"])), global_via=norms)


def _res_net(name: str, summary: str, norm_default: bool, where: str) -> Family:
    return Family(
        name,
        summary,
        f"archinspect.models.res_net:{name}",
        (
            hidden_channels(32, "channels inside the blocks"),
            num_blocks(6, "number of residual blocks"),
            Arg("use_norm", Bool(), norm_default, help=f"GroupNorm(1) {where} each conv"),
            activation(),
            BOUNDARY,
        ),
        receptive_field=receptive_field,
        separable=True,
        same_as=(f"pdequinox.arch:{name}",),
        # Same-padded 3-convs and 1x1 convs take any size.
        input_rule_complete=True,
    )


CLASSIC = _res_net(
    "ClassicResNet",
    "1x1 lifting, post-activation residual blocks of two 3-convs, 1x1 projection",
    False,
    "after",
)
MODERN = _res_net(
    "ModernResNet",
    "1x1 lifting, pre-activation residual blocks of two 3-convs, 1x1 projection",
    True,
    "before",
)
FAMILIES = (CLASSIC, MODERN)
