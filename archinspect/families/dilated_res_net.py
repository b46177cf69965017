"""DilatedResNet: 1x1 lifting, residual blocks of dilated 3-convs, 1x1 projection
(model: archinspect/models/dilated_res_net.py)."""

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
from archinspect.spec.kinds import Arg, Bool, IntList

if TYPE_CHECKING:
    from archinspect.analysis.receptive_field.analytic import Composition


def receptive_field(args: Args) -> Composition:
    from archinspect.analysis.receptive_field import analytic as a
    from archinspect.report import GlobalSource

    rates = args["dilation_rates"]
    block = a.then(*(a.conv(3, r) for r in rates))
    norms = tuple(
        GlobalSource(f"blocks[{b}].norm_layers[{j}]", "GroupNorm", "normalization")
        for b in range(args["num_blocks"])
        for j in range(len(rates))
        if args["use_norm"]
    )
    residual = a.union(a.identity(), block)
    return a.stencil(a.then(*([residual] * args["num_blocks"])), global_via=norms)


FAMILY = Family(
    "DilatedResNet",
    "1x1 lifting, residual blocks of dilated 3-convs, 1x1 projection",
    "archinspect.models.dilated_res_net:DilatedResNet",
    (
        hidden_channels(32, "channels inside the blocks"),
        num_blocks(2, "number of residual blocks"),
        Arg(
            "dilation_rates",
            IntList(),
            [1, 2, 4, 8, 4, 2, 1],
            help="one 3-conv per entry, with that dilation",
        ),
        Arg("use_norm", Bool(), True, help="GroupNorm(1) before each conv"),
        activation(),
        BOUNDARY,
    ),
    receptive_field=receptive_field,
    separable=True,
    same_as=("pdequinox.arch:DilatedResNet",),
    # Same-padded (dilated) convs take any size, even a padding wider than the axis.
    input_rule_complete=True,
)
