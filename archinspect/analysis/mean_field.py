"""Mean-field signal propagation of a deep network at initialization (README "init").

For a layer z = W φ(x) + b with weights of variance σ_w²/fan_in and biases of variance σ_b²,
the pre-activations of a wide network are Gaussian, and their variance q and the correlation c
of two inputs follow deterministic maps (Poole et al. 2016, Schoenholz et al. 2017):

    q ← σ_w² E[φ(√q z)²] + σ_b²
    c ← (σ_w² E[φ(u₁) φ(u₂)] + σ_b²) / q*,  (u₁, u₂) Gaussian, variance q*, correlation c
    χ₁ = σ_w² E[φ'(√q* z)²]   (the slope of the c-map at c = 1)

χ₁ < 1 is the ordered phase (nearby inputs merge, c* = 1), χ₁ > 1 the chaotic one (c* < 1).
χ of L identical layers is χ₁^L, so the boundary χ₁ = 1 does not move with depth.

numpy only: no JAX, so the theory is available wherever the spec is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from archinspect.report import MeanField

Array = np.ndarray

_SQRT_2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_erf_object = np.frompyfunc(math.erf, 1, 1)  # numpy has no erf; scipy is not needed


def _erf(x: Array) -> Array:
    return np.asarray(_erf_object(x), dtype=float)


def _sigmoid(x: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


def _normal_cdf(x: Array) -> Array:
    return 0.5 * (1.0 + _erf(x / _SQRT_2))


_GELU_C = math.sqrt(2.0 / math.pi)  # jax.nn.gelu's tanh approximation
_SELU_ALPHA = 1.6732632423543772848170429916717  # jax.nn.selu's constants
_SELU_SCALE = 1.0507009873554804934193349852946
_LEAKY = 0.01  # jax.nn.leaky_relu's default negative slope


def _gelu(x: Array) -> Array:
    return 0.5 * x * (1.0 + np.tanh(_GELU_C * (x + 0.044715 * x**3)))


def _gelu_grad(x: Array) -> Array:
    t = np.tanh(_GELU_C * (x + 0.044715 * x**3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * x**2)


def _elu(x: Array, alpha: float = 1.0) -> Array:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _elu_grad(x: Array, alpha: float = 1.0) -> Array:
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


@dataclass(frozen=True)
class _Activation:
    """φ and φ' in numpy, with the points where either is not smooth (a quadrature panel
    ends there: a rule across a kink converges slowly). `rho`, for a positively homogeneous φ
    (φ(a x) = a φ(x), a > 0): E[φ(z)²], which then equals E[φ'(z)²] too (φ(x) = φ'(x)·x), and
    makes q* and χ₁ closed forms; slopes 1 and α on either side of 0 give (1 + α²)/2."""

    phi: Callable[[Array], Array]
    grad: Callable[[Array], Array]
    kinks: tuple[float, ...] = ()
    rho: float | None = None


_ACTS: dict[str, _Activation] = {
    "relu": _Activation(lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float), (0.0,), 0.5),
    "relu6": _Activation(
        lambda x: np.clip(x, 0.0, 6.0), lambda x: ((x > 0) & (x < 6)).astype(float), (0.0, 6.0)
    ),
    "leaky_relu": _Activation(
        lambda x: np.where(x > 0, x, _LEAKY * x),
        lambda x: np.where(x > 0, 1.0, _LEAKY),
        (0.0,),
        (1.0 + _LEAKY**2) / 2,
    ),
    "gelu": _Activation(_gelu, _gelu_grad),
    "gelu_exact": _Activation(
        lambda x: x * _normal_cdf(x),
        lambda x: _normal_cdf(x) + x * np.exp(-0.5 * x * x) / _SQRT_2PI,
    ),
    "tanh": _Activation(np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "erf": _Activation(_erf, lambda x: 2.0 / math.sqrt(math.pi) * np.exp(-x * x)),
    "silu": _Activation(
        lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1.0 + x * (1.0 - _sigmoid(x)))
    ),
    "elu": _Activation(_elu, _elu_grad, (0.0,)),
    "celu": _Activation(_elu, _elu_grad, (0.0,)),  # celu with alpha = 1 (JAX's default) is elu
    "selu": _Activation(
        lambda x: _SELU_SCALE * _elu(x, _SELU_ALPHA),
        lambda x: _SELU_SCALE * _elu_grad(x, _SELU_ALPHA),
        (0.0,),
    ),
    "sigmoid": _Activation(_sigmoid, lambda x: _sigmoid(x) * (1.0 - _sigmoid(x))),
    "softplus": _Activation(lambda x: np.logaddexp(0.0, x), _sigmoid),
    "identity": _Activation(lambda x: x, np.ones_like, (), 1.0),
}
_ACTS["swish"] = _ACTS["silu"]

# The spec's activations (archinspect.spec.kinds.ACTIVATIONS) and erf, the textbook case.
ACTIVATIONS: tuple[str, ...] = tuple(_ACTS)


def _activation(name: str) -> _Activation:
    try:
        return _ACTS[name]
    except KeyError:
        raise ValueError(
            f"mean-field theory: unknown activation {name!r} (one of: {', '.join(ACTIVATIONS)})"
        ) from None


# --- quadrature --------------------------------------------------------------------------------
# E[f(z)], z ~ N(0, 1), by composite Gauss–Legendre on [-Z, Z]: panels end at the activation's
# kinks and are graded (widths 2^j / scale) around the point where φ bends, so that a steep
# tanh(√q z) at large q, a ReLU kink and the Gaussian itself are each resolved. A plain
# Gauss–Hermite rule converges slowly across a kink and for steep integrands (its nodes near 0
# are ~1/√n apart whatever q is). Beyond |z| = 12 the Gaussian weighs < 1e-32.
_Z = 12.0
_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)
_GRADES = 2.0 ** np.arange(-3, 5)  # offsets, in units of 1/scale, around each feature
_UNIFORM = np.linspace(-_Z, _Z, 13)  # panels of width 2 for the Gaussian itself


def _breaks(features: Array, scale: Array) -> Array:
    """Panel ends per row: the uniform grid, each feature (in z) and graded points around it.
    `features`: (rows, k) positions in z; `scale`: (rows,) how many z-units φ bends per unit."""
    rows = features.shape[0]
    offsets = _GRADES[None, :] / np.maximum(scale, 1e-300)[:, None]  # (rows, g)
    pts = [np.broadcast_to(_UNIFORM, (rows, _UNIFORM.size))]
    for j in range(features.shape[1]):
        f = features[:, j : j + 1]
        pts += [f, f - offsets, f + offsets]
    out = np.clip(np.concatenate(pts, axis=1), -_Z, _Z)
    return np.sort(out, axis=1)


def _rule(breaks: Array) -> tuple[Array, Array]:
    """Nodes and weights (rows, n) of E[f(z)] over the panels between consecutive breaks; the
    weights include the standard normal density."""
    lo, hi = breaks[:, :-1, None], breaks[:, 1:, None]
    half = 0.5 * (hi - lo)
    nodes = (lo + hi) * 0.5 + half * _GL_X
    weights = half * _GL_W * np.exp(-0.5 * nodes * nodes) / _SQRT_2PI
    rows = breaks.shape[0]
    return nodes.reshape(rows, -1), weights.reshape(rows, -1)


def _features(act: _Activation) -> Array:
    """Where φ bends, in pre-activation units: its kinks, or 0 for the smooth ones."""
    return np.array(act.kinks or (0.0,))


def _expect(act: _Activation, f: Callable[[Array], Array], q: float) -> float:
    """E[f(√q z)], z ~ N(0, 1)."""
    if q == 0.0:
        return float(f(np.zeros(1))[0])
    root = math.sqrt(q)
    nodes, weights = _rule(_breaks(_features(act)[None, :] / root, np.array([root])))
    return float(np.sum(weights * f(root * nodes)))


def _expect_pair(act: _Activation, q: float, c: float) -> float:
    """E[φ(u₁) φ(u₂)] for (u₁, u₂) Gaussian with variances q and correlation c (|c| < 1):
    u₁ = √q z₁, u₂ = √q (c z₁ + s z₂), s = √(1 - c²); the inner rule over z₂ is built per
    outer node, its panels ending where u₂ crosses a feature of φ."""
    root, s = math.sqrt(q), math.sqrt(1.0 - c * c)
    feats = _features(act)
    z1, w1 = _rule(_breaks(feats[None, :] / root, np.array([root])))
    z1, w1 = z1[0], w1[0]
    inner = (feats[None, :] / root - c * z1[:, None]) / s  # (n1, k): features in z₂
    z2, w2 = _rule(_breaks(inner, np.full(z1.size, root * s)))
    u1 = root * z1
    u2 = root * (c * z1[:, None] + s * z2)
    return float(np.sum(w1 * act.phi(u1) * np.sum(w2 * act.phi(u2), axis=1)))


# --- root finding ------------------------------------------------------------------------------


def _root(f: Callable[[float], float], a: float, b: float, fa: float, fb: float) -> float:
    """A zero of f in [a, b] where f(a) and f(b) differ in sign (or one is 0), by Brent's
    method (inverse quadratic or secant steps, bisection when they do not shrink the bracket
    fast enough); to about 1e-14 relative."""
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    if (fa > 0) == (fb > 0):
        raise ArithmeticError(f"no sign change of f over [{a}, {b}]")
    if abs(fa) < abs(fb):
        a, b, fa, fb = b, a, fb, fa
    c, fc, d, bisected = a, fa, a, True
    for _ in range(200):
        tol = 1e-14 * max(abs(b), 1e-300)
        if fb == 0.0 or abs(b - a) <= tol:
            break
        if fa != fc and fb != fc:  # inverse quadratic interpolation
            s = (
                a * fb * fc / ((fa - fb) * (fa - fc))
                + b * fa * fc / ((fb - fa) * (fb - fc))
                + c * fa * fb / ((fc - fa) * (fc - fb))
            )
        else:  # secant
            s = b - fb * (b - a) / (fb - fa)
        lo, hi = sorted(((3 * a + b) / 4, b))
        if (
            not lo < s < hi
            or (bisected and abs(s - b) >= abs(b - c) / 2)
            or (not bisected and abs(s - b) >= abs(c - d) / 2)
            or (bisected and abs(b - c) < tol)
            or (not bisected and abs(c - d) < tol)
        ):
            s, bisected = (a + b) / 2, True
        else:
            bisected = False
        fs = f(s)
        d, c, fc = c, b, fb
        if (fa > 0) != (fs > 0):
            b, fb = s, fs
        else:
            a, fa = s, fs
        if abs(fa) < abs(fb):
            a, b, fa, fb = b, a, fb, fa
    return b


# --- fixed points ------------------------------------------------------------------------------

_Q_MAX = 1e12  # a variance past this is taken as growing without bound
_Q_START = 1.0  # the input variance the iteration starts from (unit-variance inputs)


def _variance_fixed_point(act: _Activation, sw2: float, sb2: float) -> float | None:
    """The limit of q ← σ_w² E[φ(√q z)²] + σ_b² from q = 1, or None if it grows without bound.

    The map is nondecreasing in q for every activation here (φ(x)² + φ(-x)² grows with |x|),
    so its iterates move monotonically to the nearest fixed point in the direction of
    F(q) = map(q) - q; that point is found by bracketing instead of iterating, which near the
    critical line (tanh at σ_w² = 1, σ_b² = 0: q_n ≈ 1/(2n)) would take millions of steps."""

    def F(q: float) -> float:
        return sw2 * _expect(act, lambda x: act.phi(x) ** 2, q) + sb2 - q

    f1 = F(_Q_START)
    if f1 == 0.0:
        return _Q_START
    if f1 > 0:  # growing: double until the map falls below the diagonal
        lo, flo = _Q_START, f1
        hi = 2.0 * lo
        fhi = F(hi)
        while fhi > 0:
            if hi > _Q_MAX:
                return None
            lo, flo, hi = hi, fhi, 2.0 * hi
            fhi = F(hi)
        return _root(F, lo, hi, flo, fhi)
    # shrinking: halve until the map is at or above the diagonal; q = 0 is the floor
    hi, fhi = _Q_START, f1
    for _ in range(40):  # down to 2^-40 ≈ 1e-12, where F's rounding starts to matter
        lo = 0.5 * hi
        flo = F(lo)
        if flo >= 0:
            return _root(F, lo, hi, flo, fhi)
        hi, fhi = lo, flo
    f0 = F(0.0)
    return _root(F, 0.0, hi, f0, fhi) if f0 > 0 else 0.0


def _correlation_fixed_point(act: _Activation, sw2: float, sb2: float, q: float) -> float:
    """The stable fixed point c* < 1 of the c-map in the chaotic phase (χ₁ > 1, where c = 1 is
    unstable): c-map(0) ≥ 0 (it is (σ_w² E[φ]² + σ_b²)/q*) and c-map(c) < c just below 1."""

    def G(c: float) -> float:
        return (sw2 * _expect_pair(act, q, c) + sb2) / q - c

    g0 = G(0.0)
    if g0 <= 0.0:
        return 0.0
    for gap in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8):
        g = G(1.0 - gap)
        if g < 0:
            return _root(G, 0.0, 1.0 - gap, g0, g)
    return 1.0 - 1e-8  # χ₁ barely above 1: c* is within 1e-8 of 1


def _check(sw2: float, sb2: float) -> None:
    for name, value in (("sw2", sw2), ("sb2", sb2)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise ValueError(
                f"mean-field theory: {name} must be a finite number >= 0, got {value!r}"
            )


def fixed_points(activation: str, sw2: float, sb2: float) -> MeanField:
    """q*, c* and χ₁ of `activation` at weight variance σ_w² (× fan-in) and bias variance σ_b²."""
    act = _activation(activation)
    _check(sw2, sb2)
    sw2, sb2 = float(sw2), float(sb2)
    if act.rho is not None:
        return _homogeneous(activation, act.rho, sw2, sb2)
    q = _variance_fixed_point(act, sw2, sb2)
    if q is None:
        return MeanField(
            activation, sw2, sb2, None, None, None,
            f"{activation} with σ_w² = {sw2:g}: the variance grows without bound, no finite q*",
        )  # fmt: skip
    chi1 = sw2 * _expect(act, lambda x: act.grad(x) ** 2, q)
    c = 1.0 if chi1 <= 1.0 else _correlation_fixed_point(act, sw2, sb2, q)
    return MeanField(activation, sw2, sb2, q, c, chi1)


def _homogeneous(name: str, rho: float, sw2: float, sb2: float) -> MeanField:
    """φ(a x) = a φ(x): E[φ(√q z)²] = ρ q with ρ = E[φ(z)²] = E[φ'(z)²], so the q-map is
    linear, q* = σ_b² / (1 - σ_w² ρ), and χ₁ = σ_w² ρ at every q (ReLU: ρ = 1/2)."""
    chi1 = sw2 * rho
    bound = 1.0 / rho
    if chi1 < 1.0:
        return MeanField(name, sw2, sb2, sb2 / (1.0 - chi1), 1.0, chi1)
    if chi1 == 1.0 and sb2 == 0.0:
        note = f"{name} with σ_w² = {bound:g}, σ_b² = 0: every q is a fixed point (q is preserved)"
        return MeanField(name, sw2, sb2, None, 1.0, chi1, note)
    relation = ">" if chi1 > 1.0 else "="
    note = f"{name} with σ_w² {relation} {bound:g}: the variance grows without bound, no finite q*"
    return MeanField(name, sw2, sb2, None, None, chi1, note)


def critical_line(activation: str, sb2: Sequence[float]) -> list[float | None]:
    """σ_w² with χ₁ = 1 at each σ_b² (the order-to-chaos boundary), or None where χ₁ stays
    below 1 until the variance grows without bound (no finite q* past that σ_w²)."""
    act = _activation(activation)
    for b in sb2:
        _check(1.0, b)
    if act.rho is not None:
        return [1.0 / act.rho for _ in sb2]
    return [_critical_sw2(act, float(b)) for b in sb2]


def _critical_sw2(act: _Activation, sb2: float) -> float | None:
    def excess(sw2: float) -> float:
        q = _variance_fixed_point(act, sw2, sb2)
        if q is None:
            return math.inf
        return sw2 * _expect(act, lambda x: act.grad(x) ** 2, q) - 1.0

    lo, flo = 0.0, -1.0  # χ₁ = 0 at σ_w² = 0
    hi = 1.0
    fhi = excess(hi)
    while fhi < 0:
        if hi > 1e4:
            return None
        lo, flo, hi = hi, fhi, 2.0 * hi
        fhi = excess(hi)
    if math.isinf(fhi):  # q* is lost before χ₁ reaches 1? look between by bisection
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            fmid = excess(mid)
            if math.isinf(fmid):
                hi = mid
            elif fmid >= 0:
                hi, fhi = mid, fmid
                break
            else:
                lo, flo = mid, fmid
            if hi - lo <= 1e-12 * hi:
                return None
        else:
            return None
    return _root(excess, lo, hi, flo, fhi)
