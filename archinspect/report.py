"""The data model between analyses and renderers: plain dataclasses, no formatting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    rf: tuple[tuple[int | float, int | float], ...] | None = None  # cumulative, with --rf


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
    receptive_field: Any = None  # analysis.receptive_field.RFResult, with --rf


@dataclass(frozen=True)
class LayerRow:
    """One module of the forward pass: shapes of its first call, how often it was called."""

    path: str
    type: str
    depth: int
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    own_params: int
    params: int
    calls: int = 1
    flops: int | None = None  # XLA's estimate for one sample, all calls of this module
    rf: tuple[tuple[int | float, int | float], ...] | None = None  # cumulative stencil RF
    folded: int = 0


@dataclass(frozen=True)
class XlaMemory:
    """XLA's compiled memory analysis of one program (bytes)."""

    argument_bytes: int
    output_bytes: int
    temp_bytes: int
    alias_bytes: int
    generated_code_bytes: int

    @property
    def peak_bytes(self) -> int:
        """Arguments + outputs + temporaries, minus buffers that alias (donated)."""
        return self.argument_bytes + self.output_bytes + self.temp_bytes - self.alias_bytes


@dataclass(frozen=True)
class FlopsReport:
    forward: int  # XLA's estimate for the whole batch; a multiply-add is 2 FLOPs
    per_sample: int
    batch_size: int
    method: str = "xla"


@dataclass(frozen=True)
class MemoryReport:
    param_bytes: int
    param_bytes_by_dtype: dict[str, int]
    activation_bytes: int  # outputs of every leaf module, for the whole batch
    forward: XlaMemory | None = None
    train_step: XlaMemory | None = None


@dataclass(frozen=True)
class InspectReport:
    """Everything `archinspect inspect` shows; `shapes` uses the layers part."""

    name: str
    spec: str
    family: str
    target: str | None
    platform: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    batch_size: int
    dtype: str
    params: ParamSummary
    layers: tuple[LayerRow, ...]
    depth: int | None
    flops: FlopsReport | None = None
    memory: MemoryReport | None = None
    receptive_field: Any = None  # analysis.receptive_field.RFResult
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class BudgetResult:
    """One budget of one spec: the limit, the measured value, whether it holds."""

    spec: str  # the spec file as given
    name: str  # the spec's name
    budget: str  # max_params, ..., receptive_field.min, receptive_field.max
    limit: Any  # int, or per-axis [(backward, forward)] for receptive fields
    actual: Any
    ok: bool
    headroom: float | None  # percent of the limit still free (negative when exceeded)
    line: int | None  # where the budget is written in the spec file (None: not in the file)
    column: int | None
    from_command_line: bool
    message: str


@dataclass(frozen=True)
class CheckReport:
    results: tuple[BudgetResult, ...]
    errors: tuple[tuple[str, str], ...]  # (spec, message) for specs that could not be checked
    unbudgeted: tuple[str, ...]  # specs with no budget at all

    @property
    def exceeded(self) -> tuple[BudgetResult, ...]:
        return tuple(r for r in self.results if not r.ok)


@dataclass(frozen=True)
class RFReport:
    """`archinspect rf`: the receptive field of one spec, with the methods that agreed on it."""

    name: str
    spec: str
    family: str
    input_shape: tuple[int, ...]
    result: Any  # analysis.receptive_field.RFResult
    methods: tuple[str, ...]  # every method whose result equals `result`
