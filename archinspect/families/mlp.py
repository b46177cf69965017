"""MLP: a dense network over the flattened field, all points and all channels
(model: archinspect/models/mlp.py). Its input size is fixed by `num_points`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archinspect.families.family import DEPTH_SWEEP, Args, Family, activation
from archinspect.spec.kinds import Activation, Arg, Bool, Int
from archinspect.spec.messages import yaml_repr

if TYPE_CHECKING:
    from archinspect.analysis.receptive_field.analytic import Composition


def receptive_field(args: Args) -> Composition:
    from archinspect.analysis.receptive_field import analytic as a
    from archinspect.report import GlobalSource

    # A dense layer over space: the number of points per axis, by the README's convention.
    n = args["num_points"]
    return a.uniform((n, n), (GlobalSource("flat_mlp.layers[0]", "Linear", "dense over space"),))


def default_resolution(args: Args) -> int:
    return args["num_points"]


def check_input(args: Args, resolution: tuple[int, ...], as_written: Any) -> str | None:
    n = args["num_points"]
    if any(r != n for r in resolution):
        return f"an MLP sees exactly num_points={n} cells per axis, got {yaml_repr(as_written)}"
    return None


FAMILY = Family(
    "MLP",
    "dense network over the flattened field (all points, all channels)",
    "archinspect.models.mlp:MLP",
    (
        Arg(
            "num_points",
            Int(),
            required=True,
            help="points per spatial axis; the input must have exactly these",
            sweep=(8, 16, 32, 64, 128),
        ),
        Arg(
            "width_size",
            Int(),
            64,
            help="width of the hidden layers",
            sweep=(16, 32, 64, 128, 256, 512),
        ),
        Arg("depth", Int(minimum=0), 3, help="number of hidden layers", sweep=DEPTH_SWEEP),
        activation(),
        Arg("final_activation", Activation(), "identity", help="nonlinearity after the last layer"),
        Arg("use_bias", Bool(), True, help="biases in all but the last layer"),
        Arg("use_final_bias", Bool(), True, help="bias in the last layer"),
    ),
    receptive_field=receptive_field,
    separable=False,  # every point feeds every point
    default_resolution=default_resolution,
    check_input=check_input,
    # Exactly num_points per axis (check_input), the model's own check of its input shape.
    input_rule_complete=True,
    same_as=("pdequinox.arch:MLP",),
)
