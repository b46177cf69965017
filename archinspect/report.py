"""The data model between analyses and renderers: plain dataclasses, no formatting."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LeafRow:
    """One array of a module: its shape and dtype, and how many real parameters it holds."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    params: int  # real parameters: complex elements count twice
    bytes: int
    learnable: bool


@dataclass(frozen=True)
class ModuleRow:
    """A node of the module tree (a module or a list of modules) with its parameter totals."""

    path: str  # "" for the root, else e.g. "left_arc_blocks[0][0].conv_1"
    type: str
    depth: int
    own_params: int  # in arrays held directly by this node
    params: int  # in its whole subtree; never changes when deeper rows are folded
    leaves: tuple[LeafRow, ...] = ()
    folded: int = 0  # how many deeper rows were folded into this one


@dataclass(frozen=True)
class ParamSummary:
    total: int
    learnable: int
    materialized: int
    bytes: int
    by_dtype: dict[str, int]  # real parameters per dtype
    elements_by_dtype: dict[str, int]  # stored elements per dtype
    bytes_by_dtype: dict[str, int]
    complex_elements: int  # elements counted twice in the totals


@dataclass(frozen=True)
class CountReport:
    name: str
    spec: str
    family: str
    num_spatial_dims: int
    input_shape: tuple[int, ...]
    params: ParamSummary
    rows: tuple[ModuleRow, ...]
    depth: int | None
    notes: tuple[str, ...] = field(default_factory=tuple)
