"""The data model between analyses and renderers: plain dataclasses, no formatting."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from archinspect.errors import Location, Problem

# In input cells: an int, an exact Fraction where an output cell sits between input cells (an
# up-sampled grid: README, "Receptive fields across grids"), math.inf for spectral coupling.
Extent = int | Fraction | float
Pair = tuple[Extent, Extent]  # (backward, forward) in input cells


def exact(x: Fraction) -> int | Fraction:
    """An extent as the data model keeps it: an int when whole, else the Fraction itself
    (which compares equal to the float it equals: Fraction(1, 2) == 0.5)."""
    return int(x) if x.denominator == 1 else x


@dataclass(frozen=True)
class LeafRow:
    """One array of a module: its shape and dtype, and how many real parameters it holds."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    params: int  # real parameters: complex elements count twice
    bytes: int
    learnable: bool  # what an optimizer trains: inexact, not state, not frozen
    # Held as state (under an eqx.nn.StateIndex, or an integer/boolean buffer): running
    # statistics and the like, updated by the forward pass, never by an optimizer.
    state: bool = False
    frozen: bool = False  # marked frozen by the user (`--frozen PATTERN`, `frozen=`)


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
    materialized: int | None = None  # of its subtree, where a filter bank is built


@dataclass(frozen=True)
class FilterBank:
    """A filter bank a layer builds from its stored filters in the forward pass (a group
    convolution's rotated copies): what it is built from and its measured size."""

    path: str  # the module that builds it
    sources: tuple[str, ...]  # the stored arrays it is built from
    expanded: tuple[str, ...]  # those of `sources` nothing else reads (counted as the bank)
    learnable: int  # parameters in `sources`
    materialized: int  # real values in the bank, measured from the traced program
    # What the layer says it is (None for a module that does not say):
    group: str | None = None
    order: int | None = None
    lifting: bool | None = None
    in_channels: int | None = None
    out_channels: int | None = None
    kernel_size: int | None = None
    bias: int = 0  # parameters of the layer's bias (not expanded)


@dataclass(frozen=True)
class ParamSummary:
    total: int
    learnable: int
    # The parameters the forward pass reads (README, "archinspect count"); None when the
    # forward pass could not be traced on the spec's input (a note says why).
    materialized: int | None
    bytes: int
    by_dtype: dict[str, int]  # real parameters per dtype
    elements_by_dtype: dict[str, int]  # stored elements per dtype
    bytes_by_dtype: dict[str, int]
    complex_elements: int  # elements counted twice in the totals
    unread: tuple[str, ...] = ()  # paths of stored arrays the forward pass never reads
    # total == learnable + state + frozen (README, "archinspect count"): every stored array is
    # exactly one of trained, state (running statistics, integer buffers) or frozen by the user.
    state: int = 0
    frozen: int = 0
    banks: tuple[FilterBank, ...] = ()  # filter banks built in the forward pass


@dataclass(frozen=True)
class GlobalSource:
    """A module through which an output depends on every input cell of an axis."""

    path: str  # module path in the tree, "" for the root
    type: str  # class name, e.g. "GroupNorm"
    kind: str  # "normalization" | "global pooling" | "fft" | "dense over space"

    def describe(self) -> str:
        return f"{self.path or '<root>'} ({self.type})"


@dataclass(frozen=True)
class RFResult:
    per_axis: tuple[Pair, ...]  # (backward, forward) per spatial axis, max over positions
    position_range: tuple[tuple[Pair, Pair], ...]  # per axis: ((min, max) back, (min, max) fwd)
    period: tuple[int, ...]  # per axis: the RF repeats with the position modulo this
    global_: bool
    global_via: tuple[GlobalSource, ...]
    method: str  # "structural" | "empirical" | "analytic"
    analysed_shape: tuple[int, ...]  # input shape actually analysed (C, *spatial)


class Shown:
    """How the reports of the Python API (README "Python API") show themselves: a Rich table in
    a terminal (`__rich__`), an HTML table in Jupyter (`_repr_html_`), and the JSON that
    `--format json` prints (`to_json`, `to_dict`). The views live in archinspect.render,
    imported when first used: the data model imports nothing that renders."""

    def __rich__(self) -> Any:
        from archinspect.render.display import renderable

        return renderable(self)

    def _repr_html_(self) -> str:
        from archinspect.render.display import html

        return html(self)

    def to_json(self) -> str:
        """The text `--format json` prints for this report."""
        from archinspect.render.display import json_text

        return json_text(self)

    def to_dict(self) -> dict[str, Any]:
        """`to_json()` parsed: the README's JSON keys (infinite extents are the string "inf")."""
        import json

        data: dict[str, Any] = json.loads(self.to_json())
        return data


@dataclass(frozen=True)
class CountReport(Shown):
    name: str
    spec: str | None  # the spec file; None for a live model (the Python API)
    family: str
    num_spatial_dims: int | None  # None: a live model counted without an input
    input_shape: tuple[int, ...] | None
    params: ParamSummary
    rows: tuple[ModuleRow, ...]
    depth: int | None
    notes: tuple[str, ...] = field(default_factory=tuple)
    receptive_field: RFResult | None = None  # with --rf


@dataclass(frozen=True)
class ConvGeometry:
    """A convolution as the direct convolution XLA runs, for tables and the dense equivalent.

    A transposed convolution is described by its equivalent direct one (input dilated by its
    stride, stride 1, `transposed=True`), so every conv is read the same way: the input axis of
    n cells is dilated to (n - 1) * input_dilation + 1 cells, padded by `padding` (low, high)
    cells, and a kernel of effective size (k - 1) * kernel_dilation + 1 slides with `stride`.
    """

    kernel_size: tuple[int, ...]
    kernel_dilation: tuple[int, ...]
    input_dilation: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]  # applied to the (dilated) input, per spatial axis
    padding_mode: str  # "zeros" | "circular" | "reflect" | "edge": what the padded cells hold
    groups: int
    in_channels: int
    out_channels: int
    transposed: bool = False
    # The part of `padding` next to the dilated input that holds zeros whatever the mode (the
    # zero-insertion up-sampling conv's stride - 1 trailing zeros); () when there is none. The
    # rest of `padding` continues the dilated input and these zeros: periodically for
    # "circular" (period (n - 1) * input_dilation + 1 + these zeros, which is n * stride for a
    # transposed conv), mirrored for "reflect" (numpy's 'reflect': the end cell not repeated),
    # repeated for "edge".
    zero_padding: tuple[tuple[int, int], ...] = ()

    @property
    def effective_kernel(self) -> tuple[int, ...]:
        pairs = zip(self.kernel_size, self.kernel_dilation, strict=True)
        return tuple((k - 1) * d + 1 for k, d in pairs)


@dataclass(frozen=True)
class DenseEquivalent:
    """A conv as the sparse, weight-shared matrix it is (`--dense-equivalent`).

    rows = output cells * out_channels, cols = input cells * in_channels (before dilation and
    padding); nonzeros: the (output element, input element) pairs a weight connects; weights:
    the kernel's parameters (the bias is not part of the matrix). A row that is not a conv
    carries the sums over the convs below it, with no matrix size.
    """

    rows: int | None
    cols: int | None
    nonzeros: int
    weights: int

    @property
    def sharing(self) -> float:
        """The weight-sharing factor: matrix entries per weight (non-zeros / weights)."""
        return self.nonzeros / self.weights if self.weights else 0.0


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
    conv: ConvGeometry | None = None  # a conv's geometry at its first call
    dense: DenseEquivalent | None = None  # with --dense-equivalent
    # Why `flops` is None for a module that was called (it could not be lowered alone).
    flops_note: str | None = None
    # 2 x multiply-adds (padding taps included) + bias adds, one sample, all calls; None when
    # the module holds no convolution or dense product.
    analytic_flops: int | None = None
    output_dtypes: tuple[str, ...] = ()  # of the first call's outputs


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
    """Two figures, labelled: XLA's cost analysis, and the conventional analytic count.

    `forward` is XLA's figure for the compiled batched program (what budgets compare with);
    `unoptimised` is XLA's figure for one sample's program before optimisation: the same kind
    as every layer row, so never below a part. `analytic` is 2 x multiply-adds including
    padding taps, plus bias adds (archinspect.analysis.flops_analytic), whole batch; None with
    `analytic_note` saying why when it cannot be stated exactly."""

    forward: int  # XLA's estimate for the whole batch, compiled; a multiply-add is 2 FLOPs
    per_sample: int
    batch_size: int
    method: str = "xla"
    unoptimised: int | None = None  # per sample
    analytic: int | None = None  # whole batch
    analytic_note: str | None = None


@dataclass(frozen=True)
class MemoryReport:
    param_bytes: int
    param_bytes_by_dtype: dict[str, int]
    activation_bytes: int  # outputs of every leaf module, for the whole batch
    forward: XlaMemory | None = None
    train_step: XlaMemory | None = None


@dataclass(frozen=True)
class InspectReport(Shown):
    """Everything `archinspect inspect` shows; `shapes` uses the layers part."""

    name: str
    spec: str | None  # the spec file; None for a live model (the Python API)
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
    receptive_field: RFResult | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    full: bool = True  # shown as `inspect` shows it (parameters, FLOPs, memory); else `shapes`
    # "flops"/"memory" -> why it was not measured (inspect --no-flops / --no-memory): shown as
    # such, never as a zero or a blank that reads like one.
    not_measured: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetResult:
    """One budget of one spec: the limit, the measured value, whether it holds. Its message is
    worded by archinspect.render.check_text.budget_message."""

    spec: str  # the spec file as given
    name: str  # the spec's name
    budget: str  # max_params, ..., receptive_field.min, receptive_field.max
    limit: Any  # int, or per-axis [(backward, forward)] for receptive fields
    actual: Any
    ok: bool
    headroom: float | None  # percent of the limit still free (negative when exceeded)
    location: Location | None  # where the budget is written in the spec file (None: not in it)
    from_command_line: bool

    @property
    def line(self) -> int | None:
        return self.location.line if self.location is not None else None

    @property
    def column(self) -> int | None:
        return self.location.column if self.location is not None else None


@dataclass(frozen=True)
class CheckError:
    """A spec that could not be checked: the error as raised, and its located problems (a
    spec's validation problems, with line, column and dotted path; empty for other errors)."""

    spec: str  # the spec file as given
    message: str
    problems: tuple[Problem, ...] = ()
    internal: bool = False  # a bug in archinspect, not a fault of the spec


@dataclass(frozen=True)
class ValidateReport:
    """`validate`: every spec as given, in order, with the error that made it invalid (None
    when it is valid)."""

    results: tuple[tuple[str, CheckError | None], ...]

    @property
    def errors(self) -> tuple[CheckError, ...]:
        return tuple(e for _, e in self.results if e is not None)


@dataclass(frozen=True)
class CheckReport:
    results: tuple[BudgetResult, ...]
    errors: tuple[CheckError, ...]  # specs that could not be checked
    unbudgeted: tuple[str, ...]  # specs with no budget at all
    budget_required: bool = False  # --require-budget: an unbudgeted spec fails the check

    @property
    def exceeded(self) -> tuple[BudgetResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def ok(self) -> bool:
        """Every budget holds, every spec was checked, and none lacks a required budget."""
        return not (self.exceeded or self.errors or (self.budget_required and self.unbudgeted))


@dataclass(frozen=True)
class RFReport(Shown):
    """`archinspect rf`: the receptive field of one spec, with the methods that agreed on it."""

    name: str
    spec: str | None  # the spec file; None for a live model (the Python API)
    family: str
    input_shape: tuple[int, ...]
    result: RFResult
    methods: tuple[str, ...]  # every method whose result equals `result`
    notes: tuple[str, ...] = ()  # e.g. that the model was built concretely


@dataclass(frozen=True)
class Fit:
    exponent: float  # of the power law y ~ x**exponent
    r2: float  # of the power-law fit, in log-log
    law: str  # "quadratic", "power 1.37", "exponential", "constant", ...
    base: float | None = None  # y ~ base**x when the law is exponential
    r2_exponential: float | None = None
    points: int = 0


@dataclass(frozen=True)
class SweepRow:
    """One point of a sweep: the metrics measured there. `error`: the config is invalid or
    cannot be built, so nothing was measured; `failed`: the metrics that could not be measured
    (e.g. the receptive field and output shape of a forward pass that fails), each with its
    error message, while the others (the counts) were."""

    values: dict[str, Any]  # swept parameter -> value
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.error is None and not self.failed

    @property
    def problem(self) -> str | None:
        """The first error met at this point (the whole row's, or a metric's)."""
        return self.error or next(iter(self.failed.values()), None)


@dataclass(frozen=True)
class SweepResult:
    name: str
    spec: str
    swept: tuple[str, ...]
    rows: tuple[SweepRow, ...]
    fits: dict[str, Fit]  # only for one-parameter sweeps
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class Probe:
    value: int
    metrics: dict[str, Any]
    ok: bool
    violated: tuple[str, ...]  # the limits this value crosses
    error: str | None = None  # why the config with this value cannot be built or run


@dataclass(frozen=True)
class SolveResult:
    name: str
    spec: str
    param: str
    direction: str  # "largest" (maximum limits) or "smallest" (a minimum receptive field)
    limits: dict[str, int]
    value: int | None  # None: no value satisfies the limits
    metric: dict[str, Any] | None
    next_value: int | None
    next_metric: dict[str, Any] | None
    binding: tuple[str, ...]  # the limits the next value crosses
    probes: int
    next_error: str | None = None  # why the next value's config is invalid, if it is
    # The search bound (`--max-value`, `--max-evaluations`, `--time-limit`) that stopped the
    # search before an answer; value is None then, next_value the last value measured.
    stopped: str | None = None


@dataclass(frozen=True)
class ElementError:
    """How far the output of one transformed input is from the transformed output."""

    element: int  # numbered as archinspect/groups.py does
    label: str  # "r", "r2 m", ...
    description: str  # "rotate 90°", ...
    absolute: float  # max |model(g x) - g model(x)|
    relative: float  # absolute / max |model(x)|
    ok: bool


@dataclass(frozen=True)
class Cause:
    """A reason the check can fail that archinspect detects in the model or the input."""

    kind: str  # "even_kernel_same" | "input_parity" | "stride" | "plain_layer"
    path: str  # the module ("" for the root), or the operation when no module is known
    message: str


@dataclass(frozen=True)
class EquivarianceReport:
    """`archinspect equivariance`: every group element applied to a random input."""

    name: str
    spec: str | None
    family: str
    group: str
    order: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    orientation_axis: int | None  # None: the output is checked for invariance
    packed: bool  # the orientation axis holds channels x orientations, orientation fastest
    spatial: bool  # the output's last two axes are spatial (rotated with the input)
    tolerance: float  # relative to the largest output magnitude
    seed: int
    per_element: tuple[ElementError, ...]
    causes: tuple[Cause, ...]  # detected; shown when the check fails
    estimated_bytes: int
    notes: tuple[str, ...] = ()

    @property
    def max_absolute(self) -> float:
        return max(e.absolute for e in self.per_element)

    @property
    def max_relative(self) -> float:
        return max(e.relative for e in self.per_element)

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.per_element)


@dataclass(frozen=True)
class InitLayer:
    """One conv or dense layer's output at initialization (archinspect.analysis.init_stats)."""

    path: str
    type: str
    mean: float
    std: float
    rms: float  # sqrt(mean of squares): sqrt(q), the second moment mean-field theory follows
    corr: float  # Pearson correlation of two random inputs' outputs (mean over pairs)
    grad_norm: float  # RMS over the batch of |d loss / d output|
    perturbation: float  # |z(x0 + 1e-3 n) - z(x0)| / |z(x0)|


@dataclass(frozen=True)
class InitReport:
    """`archinspect init`: how the signal propagates through the network at initialization."""

    name: str
    spec: str | None
    family: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    init: str  # how the weights were drawn, in words
    w_std: float | None  # None: the family's own initializer
    b_std: float | None
    parameterization: str
    batch: int
    seed: int
    layers: tuple[InitLayer, ...]
    verdict: str  # exploding | vanishing | ordered | critical | chaotic
    rule: str
    exploding: bool
    vanishing: bool
    std_ratio: float  # last layer's rms / first layer's rms (README: why rms)
    chi: float | None  # measured per-layer growth of squared perturbations
    estimated_bytes: int
    notes: tuple[str, ...] = ()
    # mean-field theory for the spec's activation at (w_std², b_std²); None: no `activation`
    # argument, or the family's own initializer (its variance depends on fan_in)
    mean_field: MeanField | None = None


@dataclass(frozen=True)
class DiffSide:
    """One of the two specs of `archinspect diff`: which spec it is."""

    name: str
    spec: str | None  # the spec file; None for a live model (the Python API)
    family: str
    target: str | None
    overrides: tuple[str, ...] = ()  # KEY=VALUE from the command line (--set, --set-a/-b)


@dataclass(frozen=True)
class ArgumentDiff:
    """An argument whose value differs between A and B (defaults filled in on both sides, so an
    explicit default equals an omitted one); `in_a`/`in_b` False: the argument is not one of that
    side's family (its value is then None)."""

    name: str  # the spec key, as --set writes it: "model.hidden_channels", "input.resolution"
    a: Any
    b: Any
    in_a: bool = True
    in_b: bool = True

    @property
    def status(self) -> str:
        return "only in A" if not self.in_b else "only in B" if not self.in_a else "differs"


class _Compared:
    """What a figure and a module row of `diff` share: B - A and B / A of their `a` and `b`."""

    a: Any
    b: Any

    @property
    def difference(self) -> int | None:
        """B - A when both are integers (exact); None for anything else."""
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.a, self.b))
        return self.b - self.a if ints else None

    @property
    def ratio(self) -> float | None:
        """B / A when both are integers and A is not 0."""
        return self.b / self.a if self.difference is not None and self.a != 0 else None


@dataclass(frozen=True)
class FigureDiff(_Compared):
    """One figure of both specs: parameters, output shape, receptive field, FLOPs, memory.
    A figure one side could not measure (materialized parameters, a receptive field the
    analysis cannot model) is None there; a note says why."""

    key: str  # "params.total", "output_shape", "receptive_field.per_axis", "flops.per_sample"
    a: Any  # int, a shape, per-axis (backward, forward) extents, a bool, or None
    b: Any

    @property
    def status(self) -> str:
        return "same" if self.a == self.b else "differs"


@dataclass(frozen=True)
class ModuleDiff(_Compared):
    """A module path of the `count` tree (folded to the same depth on both sides) with its
    parameters in A and in B; a module only in one spec has None on the other side."""

    path: str  # "" for the root
    depth: int
    type_a: str | None
    type_b: str | None
    a: int | None  # parameters in its whole subtree
    b: int | None

    @property
    def status(self) -> str:
        if self.a is None or self.b is None:
            return "only in A" if self.b is None else "only in B"
        return "same" if (self.a, self.type_a) == (self.b, self.type_b) else "differs"


@dataclass(frozen=True)
class DiffReport(Shown):
    """`archinspect diff A B`: the arguments that differ, the figures of both side by side and
    the parameters per module, with the exact differences B - A and the ratios B / A."""

    a: DiffSide
    b: DiffSide
    arguments: tuple[ArgumentDiff, ...]  # only those that differ
    figures: tuple[FigureDiff, ...]
    modules: tuple[ModuleDiff, ...]  # the union of both trees, A's order, B's new paths after
    depth: int | None
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class MeanField:
    """Mean-field signal propagation of one activation at (σ_w², σ_b²) (analysis/mean_field):
    q* and c* are the fixed points of the variance and correlation maps, χ₁ the slope of the
    correlation map at c = 1 (< 1 ordered, > 1 chaotic). q* is None where the variance has no
    finite fixed point (ReLU with σ_w² > 2), and `note` says why."""

    activation: str
    sw2: float  # weight variance times fan-in
    sb2: float  # bias variance
    q_star: float | None
    c_star: float | None
    chi1: float | None
    note: str | None = None


@dataclass(frozen=True)
class PhasePoint:
    """A network measured at (σ_w², σ_b²): its verdict (ordered, critical, chaotic, ...)."""

    sw2: float
    sb2: float
    verdict: str


@dataclass(frozen=True)
class PhaseDiagram:
    """The (σ_w², σ_b²) plane of one activation: the theoretical χ₁ = 1 line (σ_w² at each
    σ_b², None where there is none) and the measured points of a real network on top."""

    activation: str
    sb2: tuple[float, ...]
    sw2: tuple[float | None, ...]
    points: tuple[PhasePoint, ...] = ()
