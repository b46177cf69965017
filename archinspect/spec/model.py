"""The validated spec: what every analysis receives. Plain frozen dataclasses, no JAX."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archinspect.errors import Location


@dataclass(frozen=True)
class InputSpec:
    resolution: tuple[int, ...]
    batch_size: int = 1
    dtype: str = "float32"
    channels: int = 1  # channels of one input sample
    # Where the model wants the channels: "channels_first" | "channels_last"; None: the model's
    # convention (channels first for Equinox, channels last for Flax), known once it is built.
    layout: str | None = None
    # Whether the model is called with a leading batch axis; None: its convention (Flax: yes,
    # Equinox: no). Analyses always see one channels-first sample (`Spec.input_shape`).
    batch_axis: bool | None = None
    # Shapes of further positional inputs (a `target:` taking several, as GRUCell(input,
    # hidden)), in the model's own layout; they are zeros of `dtype` in every analysis.
    extra: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True)
class InitSpec:
    """`init:` (README "Signal propagation at initialization"): how `archinspect init` draws
    the weights. `default`: the family's (or target's) own initializer; otherwise every conv and
    dense weight ~ N(0, w_std^2 / fan_in) and bias ~ N(0, b_std^2)."""

    default: bool = True
    w_std: float = 1.0
    b_std: float = 0.0
    parameterization: str = "standard"  # "standard" | "ntk"


@dataclass(frozen=True)
class Spec:
    name: str
    source: str
    family: str  # a built-in family, or the class/function name of a `target:`
    args: dict[str, Any]  # every argument of the family, defaults filled in
    explicit: frozenset[str]  # the argument names the user wrote (or --set)
    input: InputSpec
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    marks: dict[str, Location] = field(default_factory=dict, compare=False, repr=False)
    notes: tuple[str, ...] = ()
    target: str | None = None  # import path when the model is loaded with `target:`
    # How the model is called (README "forward:"): `key`, `inference`, `state` (booleans) and
    # fixed keyword arguments of `__call__`; empty: `model(x)`.
    forward: dict[str, Any] = field(default_factory=dict)
    # Patterns of arrays that are not trained (`--frozen`, the API's `frozen=`): out of
    # learnable, counted as frozen (archinspect.analysis.params.module_rows).
    frozen: tuple[str, ...] = ()
    # `init:`; only `archinspect init` (and the init sweep metrics) draw real weights with it.
    init: InitSpec = field(default_factory=InitSpec)

    @property
    def num_spatial_dims(self) -> int:
        return len(self.input.resolution)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Unbatched, channels-first shape of one input sample."""
        return (self.input.channels, *self.input.resolution)
