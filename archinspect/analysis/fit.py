"""Scaling laws: a power law fitted in log-log over the upper half of a sweep (the asymptotic
order), compared with an exponential (log-linear) fit, and named in words.

The exponent comes from the increments (dy/dx against x in log-log, slope e - 1), which cancels
the constant offsets that biases and fixed layers add; the plain log-log fit of y is the
fallback where the metric does not increase. An exponential is chosen when a straight line in
log-linear fits y better than in log-log; its base comes from ratios of successive
differences, which cancel offsets too."""

from __future__ import annotations

import math

from archinspect.report import Fit

WORDS = {0.0: "constant", 1.0: "linear", 2.0: "quadratic", 3.0: "cubic", 4.0: "quartic"}
NAME_TOLERANCE = 0.15  # an exponent this close to a multiple of 0.5 gets that name


def _linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b x: (a, b, r2)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    syy = sum((y - my) ** 2 for y in ys)
    b = sxy / sxx if sxx else 0.0
    a = my - b * mx
    if syy == 0:
        return a, b, 1.0
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    return a, b, max(0.0, 1.0 - ss_res / syy)


def _increment_fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Exponent and r2 of y = a + b*x**e from the log-log fit of the increments dy/dx against
    the midpoints: their slope is e - 1 whatever the constant a (biases, lifting layers), so a
    receptive field of 11*(k-1) reads exactly linear. None when an increment is not positive."""
    if len(points) < 3:
        return None
    mids, slopes = [], []
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if y1 <= y0:
            return None
        mids.append(math.log((x0 + x1) / 2))
        slopes.append(math.log((y1 - y0) / (x1 - x0)))
    _, slope, r2 = _linear_fit(mids, slopes)
    return 1.0 + slope, r2


def _difference_base(points: list[tuple[float, float]]) -> float | None:
    """Base of y = a + b*c**x from ratios of successive differences, which cancel the
    constant a (a receptive field of 2**(L+3) - 6 gives exactly 2). Needs equally spaced x."""
    xs = [x for x, _ in points]
    steps = {round(b - a, 12) for a, b in zip(xs, xs[1:], strict=False)}
    diffs = [b - a for (_, a), (_, b) in zip(points, points[1:], strict=False)]
    if len(steps) != 1 or len(diffs) < 2 or any(d <= 0 for d in diffs):
        return None
    step = steps.pop()
    logs = [math.log(b / a) for a, b in zip(diffs, diffs[1:], strict=False)]
    return math.exp(sum(logs) / len(logs) / step)


def power_word(exponent: float) -> str:
    nearest = round(exponent * 2) / 2
    if abs(exponent - nearest) <= NAME_TOLERANCE:
        if nearest in WORDS:
            return WORDS[nearest]
        return f"power {nearest:g}"
    return f"power {exponent:.2f}"


def fit_law(xs: list[float], ys: list[float]) -> Fit | None:
    """Fit over the upper half of the points (at least 3 where there are), or None if the data
    cannot carry a law (fewer than 2 positive points, a non-numeric metric, infinities)."""
    pts = sorted(
        (float(x), float(y))
        for x, y in zip(xs, ys, strict=True)
        if x is not None
        and y is not None
        and x > 0
        and y > 0
        and math.isfinite(float(x))
        and math.isfinite(float(y))
    )
    if len({x for x, _ in pts}) < 2:
        return None
    upper = pts[len(pts) // 2 - (1 if len(pts) >= 4 else 0) :] if len(pts) > 3 else pts
    if len({x for x, _ in upper}) < 2:
        upper = pts
    lx = [math.log(x) for x, _ in upper]
    ly = [math.log(y) for _, y in upper]
    xs_up = [x for x, _ in upper]
    if max(ly) - min(ly) < 1e-12:
        return Fit(0.0, 1.0, "constant", points=len(upper))
    _, exponent, r2 = _linear_fit(lx, ly)
    increments = _increment_fit(upper)
    if increments is not None:
        exponent, r2 = increments
    _, slope, r2_exp = _linear_fit(xs_up, ly)
    law = power_word(exponent)
    base = None
    # Exponential when a straight line in log-linear fits better than in log-log and the
    # power law would be steep (a fast-growing polynomial over a short range looks alike).
    if r2_exp > r2 + 1e-6 and exponent > 1.5 and slope > 0:
        base = _difference_base(upper) or math.exp(slope)
        law = f"exponential, base {base:.1f}"
    return Fit(exponent, r2, law, base, r2_exp, len(upper))
