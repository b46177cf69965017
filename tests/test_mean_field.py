"""Mean-field fixed points (archinspect/analysis/mean_field.py, README "init"), each checked
against an oracle computed here independently: scipy's adaptive quadrature iterated to its
fixed point, closed forms (ReLU, erf's arcsine kernel, ReLU's arc-cosine kernel), and the
published tanh critical point of Schoenholz et al. 2017 (σ_b² = 0.05: σ_w² ≈ 1.76, q* ≈ 0.57)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import integrate, optimize

from archinspect.analysis import mean_field
from archinspect.analysis.mean_field import ACTIVATIONS, critical_line, fixed_points
from archinspect.report import MeanField
from tests.conftest import ROOT

SQRT_2PI = math.sqrt(2 * math.pi)


# --- the independent oracle: scipy.integrate.quad over each smooth piece ----------------------


def logistic(x):
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


ORACLE = {  # φ, φ', kinks (in pre-activation units), written out here, not taken from the package
    "tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2, ()),
    "erf": (math.erf, lambda x: 2 / math.sqrt(math.pi) * math.exp(-x * x), ()),
    "sigmoid": (logistic, lambda x: logistic(x) * logistic(-x), ()),
    "softplus": (
        lambda x: max(x, 0) + math.log1p(math.exp(-abs(x))),
        logistic,
        (),
    ),
    "gelu_exact": (
        lambda x: x * 0.5 * (1 + math.erf(x / math.sqrt(2))),
        lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2))) + x * math.exp(-x * x / 2) / SQRT_2PI,
        (),
    ),
    "elu": (
        lambda x: x if x > 0 else math.expm1(x),
        lambda x: 1.0 if x > 0 else math.exp(x),
        (0.0,),
    ),
    "relu6": (lambda x: min(max(x, 0.0), 6.0), lambda x: 1.0 if 0 < x < 6 else 0.0, (0.0, 6.0)),
}


def gauss_mean(f, q, kinks=()):
    """E[f(√q z)], z ~ N(0, 1), by adaptive quadrature split at the kinks."""
    r = math.sqrt(q)
    edges = [-math.inf, *sorted(k / r for k in kinks), math.inf]
    return sum(
        integrate.quad(
            lambda z: f(r * z) * math.exp(-z * z / 2) / SQRT_2PI, a, b, epsabs=1e-15, limit=200
        )[0]
        for a, b in zip(edges, edges[1:], strict=False)
    )


def oracle_q_star(name, sw2, sb2):
    """Iterate q <- σ_w² E[φ(√q z)²] + σ_b² from q = 1 to its limit (points here converge)."""
    phi, _, kinks = ORACLE[name]
    q = 1.0
    for _ in range(5000):
        new = sw2 * gauss_mean(lambda x: phi(x) ** 2, q, kinks) + sb2
        if abs(new - q) <= 1e-14 * max(q, 1e-300):
            return new
        q = new
    raise AssertionError("the oracle did not converge")


def oracle_chi1(name, sw2, q):
    _, grad, kinks = ORACLE[name]
    return sw2 * gauss_mean(lambda x: grad(x) ** 2, q, kinks)


# (σ_w², σ_b²): ordered, chaotic and in between; none at a point where iteration stalls
POINTS = [(0.5, 0.1), (1.5, 0.05), (2.5, 0.2), (4.0, 0.5)]


@pytest.mark.parametrize("sw2, sb2", POINTS)
@pytest.mark.parametrize("name", ["tanh", "erf"])
def test_q_star_and_chi1_match_adaptive_quadrature(name, sw2, sb2):
    mf = fixed_points(name, sw2, sb2)
    q = oracle_q_star(name, sw2, sb2)
    assert mf.q_star == pytest.approx(q, rel=1e-10)
    assert mf.chi1 == pytest.approx(oracle_chi1(name, sw2, q), rel=1e-10)
    assert mf.note is None


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "gelu_exact", "elu", "relu6"])
def test_other_activations_and_kinks_match_adaptive_quadrature(name):
    sw2, sb2 = 1.2, 0.3
    mf = fixed_points(name, sw2, sb2)
    q = oracle_q_star(name, sw2, sb2)
    assert mf.q_star == pytest.approx(q, rel=1e-10)
    assert mf.chi1 == pytest.approx(oracle_chi1(name, sw2, q), rel=1e-10)


# --- closed forms --------------------------------------------------------------------------------


def erf_q_map(q, sw2, sb2):
    # E[erf(a z)²] = (2/π) arcsin(2a² / (1 + 2a²)) with a² = q
    return sw2 * 2 / math.pi * math.asin(2 * q / (1 + 2 * q)) + sb2


def erf_chi1(q, sw2):
    # erf'(x)² = (4/π) e^{-2x²} and E[e^{-2 q z²}] = 1/√(1 + 4q)
    return sw2 * 4 / math.pi / math.sqrt(1 + 4 * q)


def erf_c_map(c, q, sw2, sb2):
    # E[erf(u₁) erf(u₂)] = (2/π) arcsin(2 q c / (1 + 2q)) for variances q, correlation c
    return (sw2 * 2 / math.pi * math.asin(2 * q * c / (1 + 2 * q)) + sb2) / q


@pytest.mark.parametrize("sw2, sb2", [(1.0, 0.3), (2.0, 0.1), (3.0, 0.05), (6.0, 1.0)])
def test_erf_against_its_closed_forms(sw2, sb2):
    q = optimize.brentq(lambda q: erf_q_map(q, sw2, sb2) - q, 1e-9, 100.0, xtol=1e-15)
    chi1 = erf_chi1(q, sw2)
    mf = fixed_points("erf", sw2, sb2)
    assert mf.q_star == pytest.approx(q, rel=1e-10)
    assert mf.chi1 == pytest.approx(chi1, rel=1e-10)
    if chi1 < 1:
        assert mf.c_star == 1.0
    else:  # the c-map's stable fixed point below 1
        c = optimize.brentq(lambda c: erf_c_map(c, q, sw2, sb2) - c, 0.0, 1 - 1e-6, xtol=1e-15)
        assert mf.c_star == pytest.approx(c, abs=1e-9)
        assert mf.c_star < 1


def test_erf_points_cover_both_phases():
    chis = [fixed_points("erf", w, b).chi1 for w, b in [(1.0, 0.3), (6.0, 1.0)]]
    assert chis[0] < 1 < chis[1]


@pytest.mark.parametrize("sw2, sb2", [(0.5, 0.0), (1.0, 0.2), (1.5, 1.0), (1.99, 0.01)])
def test_relu_closed_form(sw2, sb2):
    # E[relu(√q z)²] = q/2, so q* = σ_b² / (1 - σ_w²/2); relu'² = 1 on half the line: χ₁ = σ_w²/2
    mf = fixed_points("relu", sw2, sb2)
    assert mf.q_star == pytest.approx(sb2 / (1 - sw2 / 2), rel=1e-12, abs=1e-15)
    assert mf.chi1 == pytest.approx(sw2 / 2, rel=1e-12)
    assert mf.c_star == 1.0  # ordered: nearby inputs merge
    assert mf.note is None


@pytest.mark.parametrize(
    "sw2, sb2, note",
    [
        (2.5, 0.1, "relu with σ_w² > 2: the variance grows without bound, no finite q*"),
        (3.0, 0.0, "relu with σ_w² > 2: the variance grows without bound, no finite q*"),
        (2.0, 0.1, "relu with σ_w² = 2: the variance grows without bound, no finite q*"),
        (2.0, 0.0, "relu with σ_w² = 2, σ_b² = 0: every q is a fixed point (q is preserved)"),
    ],
)
def test_relu_without_a_finite_fixed_point(sw2, sb2, note):
    mf = fixed_points("relu", sw2, sb2)
    assert mf.q_star is None
    assert mf.note == note
    assert mf.chi1 == pytest.approx(sw2 / 2, rel=1e-12)  # ReLU's χ₁ does not depend on q


def test_leaky_relu_and_identity_closed_forms():
    # leaky slope 0.01: E[φ(z)²] = (1 + 0.01²)/2 = 0.50005; identity: 1
    mf = fixed_points("leaky_relu", 1.0, 0.2)
    assert mf.chi1 == pytest.approx(0.50005, rel=1e-12)
    assert mf.q_star == pytest.approx(0.2 / (1 - 0.50005), rel=1e-12)
    assert fixed_points("identity", 0.5, 0.1).q_star == pytest.approx(0.1 / 0.5, rel=1e-12)
    assert critical_line("leaky_relu", [0.0, 1.0]) == pytest.approx([1 / 0.50005] * 2, rel=1e-12)


def test_relu_pair_expectation_matches_the_arc_cosine_kernel():
    # E[relu(u₁) relu(u₂)] = q/(2π) (√(1 - c²) + (π - arccos c) c)  (Cho & Saul 2009)
    relu = mean_field._ACTS["relu"]
    for q, c in [(1.0, 0.0), (0.3, 0.5), (4.0, -0.7), (2.0, 0.999)]:
        exact = q / (2 * math.pi) * (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c)
        assert mean_field._expect_pair(relu, q, c) == pytest.approx(exact, rel=1e-11)


def test_tanh_known_critical_point():
    # tanh at (σ_w², σ_b²) = (1, 0): q = 0 is the fixed point and χ₁ = tanh'(0)² = 1
    mf = fixed_points("tanh", 1.0, 0.0)
    assert (mf.q_star, mf.chi1, mf.c_star) == (0.0, 1.0, 1.0)
    # Schoenholz et al. 2017, σ_b² = 0.05: the critical σ_w² ≈ 1.76 with q* ≈ 0.57
    [sw2] = critical_line("tanh", [0.05])
    assert sw2 == pytest.approx(1.761, abs=1e-3)
    assert fixed_points("tanh", sw2, 0.05).q_star == pytest.approx(0.570, abs=1e-3)


def test_tanh_without_bias_is_chaotic_with_c_star_zero():
    # tanh is odd: with σ_b² = 0 the c-map sends 0 to 0, the stable point once χ₁ > 1
    mf = fixed_points("tanh", 2.5, 0.0)
    assert mf.chi1 > 1
    assert mf.c_star == pytest.approx(0.0, abs=1e-12)


# --- the critical line --------------------------------------------------------------------------

SB2 = [0.0, 0.05, 0.3, 1.0]


def tolerance(sb2):
    """At σ_b² = 0 an odd φ's χ₁ is 1 + O(ε²) just past σ_w² = 1/φ'(0)² (q* ≈ ε/2 there and
    χ₁ ≈ σ_w² (1 - 2q*) ≈ 1), so the zero of χ₁ - 1 is found to √(1e-16) only."""
    return 1e-7 if sb2 == 0 else 1e-9


@pytest.mark.parametrize("name", ["tanh", "erf"])
def test_chi1_is_one_on_the_critical_line(name):
    line = critical_line(name, SB2)
    for sw2, sb2 in zip(line, SB2, strict=True):
        assert sw2 is not None
        assert fixed_points(name, sw2, sb2).chi1 == pytest.approx(1.0, abs=1e-10)
        q = oracle_q_star(name, sw2, sb2) if sb2 > 0 else 0.0
        assert oracle_chi1(name, sw2, q) == pytest.approx(1.0, abs=tolerance(sb2))


def test_erf_critical_line_against_the_closed_form():
    for sb2, sw2 in zip(SB2, critical_line("erf", SB2), strict=True):

        def excess(w, sb2=sb2):
            if sb2 == 0:
                return erf_chi1(0.0, w) - 1  # q* = 0 while ordered
            q = optimize.brentq(lambda q: erf_q_map(q, w, sb2) - q, 1e-12, 1e3, xtol=1e-15)
            return erf_chi1(q, w) - 1

        exact = optimize.brentq(excess, 0.1, 20.0, xtol=1e-14)
        assert sw2 == pytest.approx(exact, rel=tolerance(sb2))
    assert critical_line("erf", [0.0])[0] == pytest.approx(math.pi / 4, rel=1e-7)  # 4/π σ_w² = 1


def test_c_star_is_one_in_the_ordered_phase():
    for name in ("tanh", "erf", "gelu", "selu"):
        for sw2, sb2 in [(0.5, 0.1), (0.9, 0.5)]:
            mf = fixed_points(name, sw2, sb2)
            assert mf.chi1 is not None and mf.chi1 < 1, (name, sw2, sb2)
            assert mf.c_star == 1.0


def test_chi1_is_the_slope_of_the_correlation_map_at_one():
    # the c-map's slope at c = 1 (2-D quadrature of φ·φ) equals σ_w² E[φ'²] (1-D, φ' only)
    for name, sw2, sb2 in [("tanh", 1.8, 0.05), ("elu", 1.3, 0.2), ("gelu", 1.5, 0.3)]:
        mf = fixed_points(name, sw2, sb2)
        act, q, h = mean_field._ACTS[name], mf.q_star, 1e-5
        assert q is not None and mf.chi1 is not None
        pair = [sw2 * mean_field._expect_pair(act, q, 1 - k * h) + sb2 for k in (1, 2)]
        slope = (3 * q - 4 * pair[0] + pair[1]) / (2 * h * q)  # one-sided, second order
        assert slope == pytest.approx(mf.chi1, rel=1e-5)


def test_depth_does_not_move_the_boundary():
    """χ of L identical layers is χ₁^L (the chain rule through the c-map at its fixed point
    c = 1), so χ_L = 1 exactly where χ₁ = 1: the L-layer slope is measured here by finite
    differences of the composed erf c-map (closed form) and its zero found by brentq."""
    sb2 = 0.3

    def chi_L(sw2, depth, h=1e-7):
        q = optimize.brentq(lambda q: erf_q_map(q, sw2, sb2) - q, 1e-12, 1e3, xtol=1e-15)
        c = 1 - h
        for _ in range(depth):
            c = erf_c_map(c, q, sw2, sb2)
        return (1 - c) / h

    [critical] = critical_line("erf", [sb2])
    for depth in (1, 5, 30):
        for sw2 in (0.9 * critical, 1.1 * critical):
            chi1 = fixed_points("erf", sw2, sb2).chi1
            assert chi_L(sw2, depth) == pytest.approx(chi1**depth, rel=1e-3)
        boundary = optimize.brentq(
            lambda w, d=depth: chi_L(w, d) - 1, 0.8 * critical, 1.2 * critical
        )
        assert boundary == pytest.approx(critical, rel=1e-5)


def test_critical_line_is_none_where_the_variance_explodes_first():
    # softplus (φ(0) = log 2 ≠ 0) at σ_b² = 1 keeps χ₁ < 1 until q* is lost near σ_w² = 2
    [sw2] = critical_line("softplus", [1.0])
    assert sw2 is None
    assert fixed_points("softplus", 1.9, 1.0).chi1 < 1
    mf = fixed_points("softplus", 2.5, 1.0)
    assert mf.q_star is None
    assert mf.note == "softplus with σ_w² = 2.5: the variance grows without bound, no finite q*"


# --- names, errors, imports ----------------------------------------------------------------------


def test_every_spec_activation_has_a_theory():
    from archinspect.spec.kinds import ACTIVATIONS as SPEC

    assert set(SPEC) <= set(ACTIVATIONS)
    assert "erf" in ACTIVATIONS


def test_numpy_activations_match_the_networks():
    """The theory integrates the same φ the built network applies (archinspect/activations.py,
    JAX), and φ' is jax.grad of it (away from kinks)."""
    import jax
    import jax.numpy as jnp

    from archinspect.activations import activation
    from archinspect.spec.kinds import ACTIVATIONS as SPEC

    xs = np.array([-7.5, -3.0, -1.1, -0.3, 0.2, 0.9, 2.5, 5.0, 6.5, 11.0])

    @jax.jit  # one compilation for every activation (eager dispatch compiles op by op)
    def values_and_slopes(x):
        pairs = [jax.jvp(activation(n), (x,), (jnp.ones_like(x),)) for n in SPEC]
        return [v for v, _ in pairs], [s for _, s in pairs]  # elementwise φ: the jvp is φ'

    with jax.enable_x64(True):
        values, slopes = values_and_slopes(jnp.asarray(xs))
    for name, value, slope in zip(SPEC, values, slopes, strict=True):
        act = mean_field._ACTS[name]
        assert act.phi(xs) == pytest.approx(np.asarray(value), rel=1e-12, abs=1e-15), name
        assert act.grad(xs) == pytest.approx(np.asarray(slope), rel=1e-12, abs=1e-15), name


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "identity"])
def test_homogeneous_second_moments_match_quadrature(name):
    # ρ = E[φ(z)²] = E[φ'(z)²] for ReLU, leaky ReLU and the identity, checked by scipy
    act = mean_field._ACTS[name]
    moment = gauss_mean(lambda x: float(act.phi(np.array(x))) ** 2, 1.0, (0.0,))
    slope = gauss_mean(lambda x: float(act.grad(np.array(x))) ** 2, 1.0, (0.0,))
    assert (moment, slope) == (pytest.approx(act.rho, rel=1e-12), pytest.approx(act.rho, rel=1e-12))


def test_unknown_activation_is_refused_with_the_names():
    with pytest.raises(ValueError, match=r"unknown activation 'relu7' \(one of: relu, relu6, "):
        fixed_points("relu7", 1.0, 0.0)
    with pytest.raises(ValueError, match=r"unknown activation 'Tanh' \(one of: .*tanh.*erf"):
        critical_line("Tanh", [0.1])


@pytest.mark.parametrize("sw2, sb2, bad", [(-1.0, 0.0, "sw2"), (1.0, math.nan, "sb2")])
def test_bad_variances_are_refused(sw2, sb2, bad):
    with pytest.raises(ValueError, match=rf"{bad} must be a finite number >= 0, got"):
        fixed_points("tanh", sw2, sb2)


def test_result_is_the_report_type():
    mf = fixed_points("tanh", 1.5, 0.1)
    assert isinstance(mf, MeanField)
    assert (mf.activation, mf.sw2, mf.sb2) == ("tanh", 1.5, 0.1)


def test_the_theory_does_not_import_jax():
    code = (
        "import sys\n"
        "from archinspect.analysis.mean_field import fixed_points\n"
        "fixed_points('tanh', 1.5, 0.1)\n"
        "print(sorted(m for m in ('jax', 'jaxlib', 'equinox', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
