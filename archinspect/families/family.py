"""What a family declaration holds, and the arguments every family shares.

Nothing here imports JAX: the builder is an import path resolved only when a model is built,
and the analytic receptive field is a function of the validated arguments that imports its
cone helpers only when it runs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archinspect.spec.kinds import Activation, Arg, Choice, Int

if TYPE_CHECKING:
    from archinspect.analysis.receptive_field.analytic import Composition

Args = dict[str, Any]

BOUNDARY_MODES: tuple[str, ...] = ("periodic", "dirichlet", "neumann")

COMMON: tuple[Arg, ...] = (
    Arg(
        "num_spatial_dims",
        Int(choices=(1, 2, 3)),
        required=True,
        help="number of spatial axes of the input",
        sweep=(1, 2, 3),
    ),
    Arg("in_channels", Int(), required=True, help="channels of the input", sweep=(1, 2, 4, 8, 16)),
    Arg(
        "out_channels", Int(), required=True, help="channels of the output", sweep=(1, 2, 4, 8, 16)
    ),
)

BOUNDARY = Arg(
    "boundary_mode",
    Choice(BOUNDARY_MODES),
    "periodic",
    help="padding of every spatial conv: periodic (circular), dirichlet (zeros), neumann (reflect)",
)

HIDDEN_SWEEP = (4, 8, 16, 32, 64, 128)
DEPTH_SWEEP = tuple(range(1, 11))
BLOCKS_SWEEP = tuple(range(1, 9))


def activation(default: str = "relu") -> Arg:
    return Arg("activation", Activation(), default, help="nonlinearity, by name")


def hidden_channels(default: int, help: str) -> Arg:
    return Arg("hidden_channels", Int(), default, help=help, sweep=HIDDEN_SWEEP)


def num_blocks(default: int, help: str, minimum: int = 0) -> Arg:
    return Arg("num_blocks", Int(minimum=minimum), default, help=help, sweep=BLOCKS_SWEEP)


@dataclass(frozen=True)
class Family:
    """Everything archinspect knows about one family, in one declaration.

    - `builder`: "module:Class", imported only when a model is built;
    - `receptive_field`: the analytic composition, a function of the validated arguments
      (None: only the structural and empirical methods apply);
    - `separable`: whether the receptive field along one axis does not depend on the sizes of
      the others, so the empirical method may measure one axis at a time (a bool, or a
      function of the validated arguments; read it with `is_separable`);
    - `default_resolution` / `check_input`: input rules beyond the generic ones (a size fixed
      by an argument, a divisibility, a minimum); `check_input(args, resolution, as_written)`
      returns a message or None (what is allowed, then ", got <as_written>");
    - `cross_check`: problems between arguments, as (argument, message) pairs;
    - `check_shapes(args, resolution)`: problems that need the input size (a shape walk), as
      (path below `model`, message) pairs, e.g. ("layers[2].conv", "...");
    - `input_rule_complete`: `check_input` and `check_shapes` (with the generic rules: one
      positive size per axis) accept exactly the inputs the builder's model accepts, so a model
      built from arguments that passed validation takes the spec's input and the structural
      receptive field need not trace it once more to find out (README "The spec file"). Leave
      it False for a family whose model may refuse sizes validation lets through;
    - `common`: the shared arguments, when a family declares them differently (COMMON);
    - `input_sized`: the builder also takes `resolution=` (the spec's input size), for layers
      whose weights depend on it (a dense layer after flatten);
    - `same_as`: "module:Class" paths of other implementations of the same architecture
      (pdequinox's), so a `target:` model of one of those classes shares `separable`;
    - each argument's `sweep`: the values `archinspect sweep` takes when none are given;
    - `match_cnn(args, n, by)`: the arguments that match a plain CNN of n channels by
      "params" or "compute", with the line that explains them (None: no such comparison).
    """

    name: str
    summary: str
    builder: str
    args: tuple[Arg, ...]
    receptive_field: Callable[[Args], Composition] | None = None
    separable: bool | Callable[[Args], bool] = False
    default_resolution: Callable[[Args], int] | None = None
    check_input: Callable[[Args, tuple[int, ...], Any], str | None] | None = None
    cross_check: Callable[[Args], list[tuple[str, str]]] | None = None
    check_shapes: Callable[[Args, tuple[int, ...]], list[tuple[str, str]]] | None = None
    input_rule_complete: bool = False
    common: tuple[Arg, ...] = COMMON
    input_sized: bool = False
    same_as: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    # `count --match-cnn N --by params|compute`: (argument overrides, a one-line explanation)
    # that make the family comparable with a plain CNN of N channels (group CNNs' widths).
    match_cnn: Callable[[Args, int, str], tuple[Args, str]] | None = None
    # `archinspect equivariance`: (group, output axis of the orientations or None when the
    # output is invariant) of the family's models, from the validated arguments.
    symmetry: Callable[[Args], tuple[str, int | None]] | None = None

    @property
    def all_args(self) -> tuple[Arg, ...]:
        return self.common + self.args

    def is_separable(self, args: Args) -> bool:
        """`separable`, for a family whose separability depends on its arguments too."""
        return self.separable(args) if callable(self.separable) else self.separable

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.all_args if a.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {a.name: copy.deepcopy(a.default) for a in self.all_args if not a.required}

    def load_class(self) -> Any:
        import importlib

        module, _, attr = self.builder.partition(":")
        return getattr(importlib.import_module(module), attr)
