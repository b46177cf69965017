"""Signal propagation at initialization, measured on the real network (README "Signal
propagation at initialization").

One jitted program runs the model on a batch of B random N(0, 1) inputs plus one more: input 0
moved by a relative 1e-3 (x0 + 1e-3 n, n ~ N(0, 1)). A recorder tap (archinspect.analysis.
recorder) takes the output of every conv and dense layer, in call order, and adds a zero
`delta` to it: the gradient with respect to that zero is the gradient at the layer's output.
The loss is sum(y * g) over the B real inputs' outputs y, g ~ N(0, 1) fixed by the seed: a loss
whose gradient at the output has unit variance per element.

Per layer (statistics over the B real inputs): mean and std of every output element; `corr`,
the Pearson correlation (cosine of the centred, flattened outputs) of inputs 2k and 2k + 1,
averaged over the B // 2 pairs; `grad_norm`, the root mean square over the B inputs of the L2
norm of the gradient at the output; `perturbation`, |z(x0') - z(x0)| / |z(x0)|, the relative
distance of the moved input's output, which grows with depth in the chaotic phase (chi1 > 1) and
shrinks in the ordered one.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from archinspect.errors import UsageError
from archinspect.report import InitLayer

if TYPE_CHECKING:
    from archinspect.analysis.footprint import Footprint

PERTURBATION = 1e-3  # relative size of the move of input 0
# The verdict (README "Signal propagation at initialization"); printed with it.
EXPLODING = 10.0  # std_ratio above: exploding
VANISHING = 0.1  # std_ratio below: vanishing
CRITICAL_BAND = (0.85, 1.15)  # per-layer growth of the squared perturbation inside: critical
RULE = (
    "std_ratio = rms of the last layer / rms of the first (rms = sqrt(mean of squares)); "
    f"exploding if std_ratio > {EXPLODING:g}, vanishing if std_ratio < {VANISHING:g}; "
    "else, with chi = (perturbation_last / perturbation_first)^(2 / (layers - 1)) the "
    f"measured per-layer growth of squared perturbations: ordered if chi < "
    f"{CRITICAL_BAND[0]:g}, chaotic if chi > {CRITICAL_BAND[1]:g}, critical between"
)


@dataclasses.dataclass(frozen=True)
class Verdict:
    verdict: str
    exploding: bool
    vanishing: bool
    std_ratio: float
    chi: float | None


def verdict(layers: tuple[InitLayer, ...]) -> Verdict:
    """The verdict from the measured rows (see `RULE`)."""
    first, last = layers[0], layers[-1]
    # The second moment, not the spread about the mean: a layer's mean is mostly per-channel
    # offsets (ReLU outputs are positive), which a one-channel last layer would subtract.
    std_ratio = last.rms / first.rms if first.rms > 0 else (math.inf if last.rms > 0 else 0.0)
    chi = None
    if len(layers) > 1 and first.perturbation > 0 and math.isfinite(last.perturbation):
        chi = (last.perturbation / first.perturbation) ** (2 / (len(layers) - 1))
    exploding = bool(std_ratio > EXPLODING)
    vanishing = bool(std_ratio < VANISHING)
    if exploding:
        word = "exploding"
    elif vanishing:
        word = "vanishing"
    elif chi is None or CRITICAL_BAND[0] <= chi <= CRITICAL_BAND[1]:
        word = "critical"
    else:
        word = "ordered" if chi < CRITICAL_BAND[0] else "chaotic"
    return Verdict(word, exploding, vanishing, float(std_ratio), chi)


class _LayerTap:
    """Adds `deltas[i]` to the output of the i-th call of a layer in `paths`, keeps the sum."""

    def __init__(self, paths: frozenset[str], deltas: list[Any] | None):
        self.paths = paths
        self.deltas = deltas
        self.outs: list[Any] = []
        self.called: list[tuple[str, str]] = []  # (path, type) per kept call

    def before(self, event: Any) -> None:
        pass

    def after(self, event: Any, out: Any) -> Any:
        from archinspect.analysis.params import is_array_like

        if event.path not in self.paths or not is_array_like(out):
            return out
        if self.deltas is not None:
            out = out + self.deltas[len(self.outs)]
        self.outs.append(out)
        self.called.append((event.path, type(event.module).__name__))
        return out


def _forward(
    effective: Callable[[Any], Any], paths: frozenset[str], deltas: list[Any] | None
) -> Callable[[Any, Any], tuple[Any, list[Any], list[tuple[str, str]]]]:
    from archinspect.analysis.recorder import recording

    def run(model: Any, x: Any) -> tuple[Any, list[Any], list[tuple[str, str]]]:
        used = effective(model)
        tap = _LayerTap(paths, deltas)
        with recording(used, [tap]):
            y = used(x)
        return y, tap.outs, tap.called

    return run


def _unchanged(model: Any) -> Any:
    return model


@functools.cache
def _program() -> Callable[..., tuple[list[Any], list[Any]]]:
    """The jitted forward and backward pass; one compilation serves every model of the same
    structure and shapes (a sweep over w_std), `effective` and `paths` being static."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    @eqx.filter_jit
    def program(
        m: Any,
        v: Any,
        deltas: list[Any],
        g: Any,
        effective: Callable[[Any], Any],
        paths: frozenset[str],
    ) -> tuple[list[Any], list[Any]]:
        batch = g.shape[0]

        def loss(ds: list[Any]) -> tuple[Any, list[Any]]:
            def one(xi: Any, di: list[Any]) -> tuple[Any, list[Any]]:
                y, outs, _ = _forward(effective, paths, di)(m, xi)
                return y, outs

            ys, outs = jax.vmap(one)(v, ds)
            return jnp.sum(ys[:batch] * g), outs

        grads, outs = jax.grad(loss, has_aux=True)(deltas)
        return outs, grads

    return program


def measure(
    model: Any,
    scale: Callable[[Any], Any] | None,
    layers: tuple[str, ...],
    input_shape: tuple[int, ...],
    dtype: str,
    batch: int,
    seed: int,
) -> tuple[tuple[InitLayer, ...], tuple[int, ...]]:
    """The per-layer rows (call order) and the output shape of one input."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    paths = frozenset(layers)
    effective = scale or _unchanged
    rng = np.random.default_rng([seed, 1])
    x = rng.standard_normal((batch, *input_shape))
    moved = x[0] + PERTURBATION * rng.standard_normal(input_shape)
    xs = jnp.asarray(np.concatenate([x, moved[None]]), np.dtype(dtype))

    # Shapes of the kept calls, abstractly (one input).
    called: list[tuple[str, str]] = []

    def probe(m: Any, v: Any) -> Any:
        y, outs, names = _forward(effective, paths, None)(m, v)
        called.extend(names)
        return y, outs

    out_struct, out_structs = eqx.filter_eval_shape(
        probe, model, jax.ShapeDtypeStruct(input_shape, np.dtype(dtype))
    )
    if not isinstance(out_struct, jax.ShapeDtypeStruct):
        raise UsageError(
            f"error: archinspect init needs a model that returns one array; it returns a "
            f"{type(out_struct).__name__}"
        )
    g = jnp.asarray(rng.standard_normal((batch, *out_struct.shape)), out_struct.dtype)
    zeros = [jnp.zeros((batch + 1, *s.shape), s.dtype) for s in out_structs]

    outs, grads = _program()(model, xs, zeros, g, effective, paths)
    rows = []
    for (path, kind), z, dz in zip(called, outs, grads, strict=True):
        z = np.asarray(z, np.float64).reshape(batch + 1, -1)
        dz = np.asarray(dz, np.float64).reshape(batch + 1, -1)
        real = z[:batch]
        pairs = [_pearson(real[2 * k], real[2 * k + 1]) for k in range(batch // 2)]
        base = float(np.linalg.norm(z[0]))
        rows.append(
            InitLayer(
                path=path,
                type=kind,
                mean=float(real.mean()),
                std=float(real.std()),
                rms=float(np.sqrt(np.mean(real**2))),
                corr=float(np.mean(pairs)) if pairs else math.nan,
                grad_norm=float(np.sqrt(np.mean(np.sum(dz[:batch] ** 2, axis=1)))),
                perturbation=float(np.linalg.norm(z[batch] - z[0]) / base) if base else math.nan,
            )
        )
    return tuple(rows), tuple(int(d) for d in out_struct.shape)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 0 else math.nan


def estimate(model: Any, input_shape: tuple[int, ...], dtype: str, batch: int) -> Footprint:
    """What `measure` allocates, on the abstract model (archinspect.analysis.footprint):
    three copies of the weights (the constructor's, the drawn ones, the scaled ones or XLA's
    temporaries in the program), four times the input and module outputs per input for B + 1
    inputs (the layers' outputs, the activations' outputs kept for the backward pass, the
    gradients, the zero deltas), and two float64 arrays of the largest weight while it is
    drawn (numpy's draw, then its cast). Checked against the peak RSS of `init
    configs/deep_relu_convnet.yaml` at 128x128: 1.9 GB beyond the import, estimated 2.35 GB
    (three times the module outputs, 1.78 GB, fell short: an activation is no module)."""
    from archinspect.analysis.footprint import footprint, forward_program

    closed, per_pass = forward_program(model, input_shape, dtype)
    return footprint(
        model, closed, weight_copies=3, passes=4 * (batch + 1), draws=2, values=per_pass
    )
