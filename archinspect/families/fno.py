"""ClassicFNO: 1x1 lifting, spectral blocks with a 1x1 bypass, projection
(model: archinspect/models/fno.py)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from archinspect.families.family import Args, Family, activation, hidden_channels, num_blocks
from archinspect.spec.kinds import Arg, Int

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
    notes=("spectral weights are complex64 and count as two real parameters each",),
    same_as=("pdequinox.arch:ClassicFNO",),
)
