"""ClassicFNO: 1x1 lifting, spectral blocks with a 1x1 bypass, projection
(model: archinspect/models/fno.py)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from archinspect.families.family import Args, Family, activation, hidden_channels, num_blocks
from archinspect.spec.kinds import Arg, Int
from archinspect.spec.messages import yaml_repr

if TYPE_CHECKING:
    from archinspect.analysis.receptive_field.analytic import Composition


def receptive_field(args: Args) -> Composition:
    from archinspect.analysis.receptive_field import analytic as a
    from archinspect.report import GlobalSource

    # Every spectral conv couples all cells of every axis through the FFT.
    ffts = tuple(
        GlobalSource(f"blocks[{b}].spectral_conv", "SpectralConv", "fft")
        for b in range(args["num_blocks"])
    )
    return a.uniform((math.inf, math.inf), ffts)


def min_cells(num_modes: int, num_spatial_dims: int) -> tuple[int, ...]:
    """The fewest cells per axis a SpectralConv keeping `num_modes` modes takes
    (archinspect/layers/spectral.py): every axis but the last keeps the m lowest positive and
    the m lowest negative frequencies of its n, which must not overlap (n // 2 >= m, so
    n >= 2m); the last axis is halved by the real FFT into n // 2 + 1 frequencies, of which it
    keeps the m lowest (n // 2 + 1 >= m, so n >= 2m - 2, and at least one cell)."""
    return (2 * num_modes,) * (num_spatial_dims - 1) + (max(1, 2 * num_modes - 2),)


def check_input(args: Args, resolution: tuple[int, ...], as_written: Any) -> str | None:
    m = args["num_modes"]
    need = min_cells(m, len(resolution))
    if all(n >= k for n, k in zip(resolution, need, strict=True)):
        return None
    if len(need) == 1:
        allowed = f"at least {need[-1]} cells (the real FFT's n // 2 + 1 >= {m} frequencies)"
    else:
        allowed = (
            f"at least {need[0]} cells on every axis but the last (n // 2 >= {m} frequencies "
            f"each side of zero) and {need[-1]} on the last (the real FFT's n // 2 + 1 >= {m})"
        )
    return f"a ClassicFNO with num_modes={m} needs {allowed}, got {yaml_repr(as_written)}"


FAMILY = Family(
    "ClassicFNO",
    "Fourier neural operator: 1x1 lifting, spectral blocks with 1x1 bypass, projection",
    "archinspect.models.fno:ClassicFNO",
    (
        hidden_channels(32, "channels inside the blocks"),
        Arg("num_modes", Int(), 12, help="Fourier modes kept per axis", sweep=(2, 4, 8, 16, 32)),
        num_blocks(4, "number of spectral blocks"),
        activation("gelu"),
    ),
    receptive_field=receptive_field,
    # The FFT couples every axis with every other: one axis cannot be measured alone.
    separable=False,
    check_input=check_input,
    input_rule_complete=True,
    notes=("spectral weights are complex64 and count as two real parameters each",),
    same_as=("pdequinox.arch:ClassicFNO",),
)
