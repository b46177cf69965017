"""Family name -> argument declarations and the (lazily imported) Equinox class that builds it.

Names and defaults follow pdequinox 0.1.2 so that a user can move between the two.
Nothing here imports JAX: the builders are import paths resolved only when a model is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archinspect.arguments import BOUNDARY_MODES, Arg

COMMON: tuple[Arg, ...] = (
    Arg(
        "num_spatial_dims",
        "int",
        required=True,
        choices=(1, 2, 3),
        help="number of spatial axes of the input",
    ),
    Arg("in_channels", "int", required=True, help="channels of the input"),
    Arg("out_channels", "int", required=True, help="channels of the output"),
)

BOUNDARY = Arg(
    "boundary_mode",
    "choice",
    "periodic",
    choices=BOUNDARY_MODES,
    help="padding of every spatial conv: periodic (circular), dirichlet (zeros), neumann (reflect)",
)


def _activation(default: str = "relu") -> Arg:
    return Arg("activation", "activation", default, help="nonlinearity, by name")


@dataclass(frozen=True)
class Family:
    name: str
    summary: str
    builder: str  # "module:Class", imported only when building
    args: tuple[Arg, ...]
    cross_check: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def all_args(self) -> tuple[Arg, ...]:
        return COMMON + self.args

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.all_args if a.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {a.name: a.default for a in self.all_args if not a.required}

    def load_class(self) -> Any:
        import importlib

        module, _, attr = self.builder.partition(":")
        return getattr(importlib.import_module(module), attr)


def _check_multipliers(args: dict[str, Any]) -> list[tuple[str, str]]:
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


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "ConvNet",
            "plain stack of depth+1 same-padded convolutions",
            "archinspect.models.conv_net:ConvNet",
            (
                Arg("hidden_channels", "int", 16, help="channels of every hidden layer"),
                Arg("depth", "int", 10, minimum=0, help="number of hidden layers"),
                Arg("kernel_size", "int", 3, help="kernel size on every axis"),
                _activation(),
                Arg(
                    "final_activation",
                    "activation",
                    "identity",
                    help="nonlinearity after the last conv",
                ),
                Arg("use_bias", "bool", True, help="biases in all but the last conv"),
                Arg("use_final_bias", "bool", True, help="bias in the last conv"),
                BOUNDARY,
            ),
        ),
        Family(
            "ClassicResNet",
            "1x1 lifting, post-activation residual blocks of two 3-convs, 1x1 projection",
            "archinspect.models.res_net:ClassicResNet",
            (
                Arg("hidden_channels", "int", 32, help="channels inside the blocks"),
                Arg("num_blocks", "int", 6, minimum=0, help="number of residual blocks"),
                Arg("use_norm", "bool", False, help="GroupNorm(1) after each conv"),
                _activation(),
                BOUNDARY,
            ),
        ),
        Family(
            "ModernResNet",
            "1x1 lifting, pre-activation residual blocks of two 3-convs, 1x1 projection",
            "archinspect.models.res_net:ModernResNet",
            (
                Arg("hidden_channels", "int", 32, help="channels inside the blocks"),
                Arg("num_blocks", "int", 6, minimum=0, help="number of residual blocks"),
                Arg("use_norm", "bool", True, help="GroupNorm(1) before each conv"),
                _activation(),
                BOUNDARY,
            ),
        ),
        Family(
            "ClassicUNet",
            "U-Net with double-conv blocks, strided-conv down- and transposed-conv up-sampling",
            "archinspect.models.u_net:ClassicUNet",
            (
                Arg("hidden_channels", "int", 16, help="channels at the finest level"),
                Arg("num_levels", "int", 4, minimum=0, help="number of down-sampling levels"),
                Arg("use_norm", "bool", True, help="GroupNorm(1) after each conv"),
                _activation(),
                BOUNDARY,
            ),
        ),
        Family(
            "ModernUNet",
            "U-Net with pre-activation residual blocks and per-level channel multipliers",
            "archinspect.models.u_net:ModernUNet",
            (
                Arg("hidden_channels", "int", 16, help="channels at the finest level"),
                Arg("num_levels", "int", 4, minimum=0, help="number of down-sampling levels"),
                Arg("num_blocks", "int", 2, help="residual blocks per level and arc"),
                Arg(
                    "channel_multipliers",
                    "optional_int_list",
                    None,
                    help="channel multiplier per level; null means 2, 4, 8, ...",
                ),
                Arg("use_norm", "bool", True, help="GroupNorm(1) before each conv"),
                _activation(),
                BOUNDARY,
            ),
            cross_check=_check_multipliers,
        ),
        Family(
            "ClassicFNO",
            "Fourier neural operator: 1x1 lifting, spectral blocks with 1x1 bypass, projection",
            "archinspect.models.fno:ClassicFNO",
            (
                Arg("hidden_channels", "int", 32, help="channels inside the blocks"),
                Arg("num_modes", "int", 12, help="Fourier modes kept per axis"),
                Arg("num_blocks", "int", 4, minimum=0, help="number of spectral blocks"),
                _activation("gelu"),
            ),
            notes=("spectral weights are complex64 and count as two real parameters each",),
        ),
        Family(
            "DilatedResNet",
            "1x1 lifting, residual blocks of dilated 3-convs, 1x1 projection",
            "archinspect.models.dilated_res_net:DilatedResNet",
            (
                Arg("hidden_channels", "int", 32, help="channels inside the blocks"),
                Arg("num_blocks", "int", 2, minimum=0, help="number of residual blocks"),
                Arg(
                    "dilation_rates",
                    "int_list",
                    [1, 2, 4, 8, 4, 2, 1],
                    help="one 3-conv per entry, with that dilation",
                ),
                Arg("use_norm", "bool", True, help="GroupNorm(1) before each conv"),
                _activation(),
                BOUNDARY,
            ),
        ),
        Family(
            "MLP",
            "dense network over the flattened field (all points, all channels)",
            "archinspect.models.mlp:MLP",
            (
                Arg(
                    "num_points",
                    "int",
                    required=True,
                    help="points per spatial axis; the input must have exactly these",
                ),
                Arg("width_size", "int", 64, help="width of the hidden layers"),
                Arg("depth", "int", 3, minimum=0, help="number of hidden layers"),
                _activation(),
                Arg(
                    "final_activation",
                    "activation",
                    "identity",
                    help="nonlinearity after the last layer",
                ),
                Arg("use_bias", "bool", True, help="biases in all but the last layer"),
                Arg("use_final_bias", "bool", True, help="bias in the last layer"),
            ),
        ),
    )
}

FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)
