"""TCN: a temporal convolutional network, 1-D and causal (model: archinspect/models/tcn.py).

Block i: two causal convolutions of kernel k and dilation 2**i (all padding before the first
cell), ReLU and dropout after each, a residual add (through a 1x1 conv where the channel count
changes), ReLU; a final 1x1 conv maps to `out_channels`. Each causal conv reaches
(k - 1) * 2**i cells into the past and none into the future, the residual path adds nothing
outside that, and the 1x1 convs reach nothing, so the receptive field is one-sided:
backward sum_i 2 * (k - 1) * 2**i = 2 * (k - 1) * (2**blocks - 1), forward 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archinspect.families.family import Args, Family
from archinspect.spec.kinds import Arg, Int, IntList, Kind
from archinspect.spec.messages import yaml_repr

if TYPE_CHECKING:
    from archinspect.analysis.receptive_field.analytic import Composition


@dataclass(frozen=True)
class Rate(Kind):
    """A probability p with 0 <= p < 1 (a dropout rate)."""

    def type_name(self) -> str:
        return "float"

    def check(self, value: Any) -> str | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1
        if not ok:
            return f"must be a number with 0 <= p < 1, got {yaml_repr(value)}"
        return None

    def json_schema(self) -> dict:
        return {"type": "number", "minimum": 0, "exclusiveMaximum": 1}

    def normalized(self, value: Any) -> Any:
        return float(value)


def receptive_field(args: Args) -> Composition:
    from archinspect.analysis.receptive_field import analytic as a

    k = args["kernel_size"]
    blocks = [
        a.union(a.identity(), a.then(a.causal_conv(k, 2**i), a.causal_conv(k, 2**i)))
        for i in range(len(args["num_channels"]))
    ]
    return a.stencil(a.then(*blocks))


def cross_check(args: Args) -> list[tuple[str, str]]:
    dims = args.get("num_spatial_dims")
    if dims != 1:
        return [
            (
                "num_spatial_dims",
                f"must be 1 for a TCN (it is causal along one time axis), got {yaml_repr(dims)}",
            )
        ]
    return []


FAMILY = Family(
    "TCN",
    "temporal convolutional network: residual blocks of causal dilated convs (1-D)",
    "archinspect.models.tcn:TCN",
    (
        Arg(
            "num_channels",
            IntList(),
            [32, 32, 32],
            help="output channels of each residual block, one entry per block",
        ),
        Arg(
            "kernel_size",
            Int(),
            2,
            help="kernel size of every causal conv",
            sweep=(2, 3, 4, 5),
        ),
        Arg("dropout", Rate(), 0.2, help="dropout rate after each conv (identity for inspection)"),
    ),
    receptive_field=receptive_field,
    separable=True,  # one axis
    # Causal convs pad zeros before the first cell: any length.
    input_rule_complete=True,
    cross_check=cross_check,
    notes=(
        "causal: every output depends only on the present and the past",
        "block i dilates its two convs by 2**i; backward receptive field 2*(k-1)*(2**blocks-1)",
    ),
)
