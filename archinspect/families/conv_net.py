"""ConvNet: a plain stack of depth+1 same-padded convolutions
(model: archinspect/models/conv_net.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from archinspect.families.family import (
    BOUNDARY,
    DEPTH_SWEEP,
    Args,
    Family,
    activation,
    hidden_channels,
)
from archinspect.spec.kinds import Activation, Arg, Bool, Int

if TYPE_CHECKING:
    from archinspect.analysis.receptive_field.analytic import Composition


def receptive_field(args: Args) -> Composition:
    from archinspect.analysis.receptive_field import analytic as a

    return a.stencil(a.then(*([a.conv(args["kernel_size"])] * (args["depth"] + 1))))


FAMILY = Family(
    "ConvNet",
    "plain stack of depth+1 same-padded convolutions",
    "archinspect.models.conv_net:ConvNet",
    (
        hidden_channels(16, "channels of every hidden layer"),
        Arg("depth", Int(minimum=0), 10, help="number of hidden layers", sweep=DEPTH_SWEEP),
        Arg("kernel_size", Int(), 3, help="kernel size on every axis", sweep=(1, 3, 5, 7, 9, 11)),
        activation(),
        Arg("final_activation", Activation(), "identity", help="nonlinearity after the last conv"),
        Arg("use_bias", Bool(), True, help="biases in all but the last conv"),
        Arg("use_final_bias", Bool(), True, help="bias in the last conv"),
        BOUNDARY,
    ),
    receptive_field=receptive_field,
    separable=True,
    same_as=("pdequinox.arch:ConvNet",),
    # Same-padded convs take any size: jnp.pad repeats a wrap or a reflection wider than the axis.
    input_rule_complete=True,
)
