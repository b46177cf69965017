"""The adversarial probes of the receptive-field methods (README, "Exact receptive fields").

Small linear, positive-weight functions on a channels-first 1-D input, each with its truth
worked out by hand (in the comment) and reproduced by the perturbation oracle
(`tests/rf_oracle.py`) in the tests. `expect` says what a method must do: "exact" (the truth)
or "refuse" (an error that names why: a flip has no stencil, its dependency moves with the
output position).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

N = 32


def conv(x, k: int, dilation: int = 1):
    """A SAME, periodic-free (zero padded) depthwise conv with positive weights 1..k."""
    w = np.tile(np.arange(1.0, 1.0 + k), (x.shape[0], 1, 1)).astype(x.dtype)
    return lax.conv_general_dilated(
        x[None], w, (1,), "SAME", rhs_dilation=(dilation,), feature_group_count=x.shape[0]
    )[0]


def reshape_pool(y, f: int):
    """Pooling by `f` written as a reshape and a mean over the split sub-axis."""
    c, n = y.shape
    return y.reshape(c, n // f, f).mean(-1)


def unet_level(x):
    # conv3 (1, 1), pool by 2 (coarse j reads fine 2j, 2j + 1), conv3 on the coarse grid
    # (j - 1 .. j + 1), nearest up-sampling by 2 (fine p reads coarse p // 2), conv3 on the
    # fine grid. Fine p = 2m (even): conv3 reads p - 1 .. p + 1, i.e. coarse m - 1 .. m (odd
    # p - 1 = 2m - 1 lies in coarse m - 1); coarse conv: m - 2 .. m + 1; pool: fine
    # 2m - 4 .. 2m + 3; first conv3: 2m - 5 .. 2m + 4: back 5, forward 4. Odd p = 2m + 1:
    # coarse m .. m + 1 -> m - 1 .. m + 2 -> fine 2m - 2 .. 2m + 5 -> 2m - 3 .. 2m + 6:
    # back 4, forward 5. Truth (5, 5), ranges (4..5, 4..5).
    y = conv(x, 3)
    y = reshape_pool(y, 2)
    y = conv(y, 3)
    y = jnp.repeat(y, 2, axis=-1)
    return conv(y, 3)


def conv_pool4(x):
    # Coarse j sits at fine 4j and reads conv cells 4j .. 4j + 3, i.e. inputs 4j - 1 .. 4j + 4:
    # truth (1, 4).
    return reshape_pool(conv(x, 3), 4)


def tridiagonal(x):
    # A dense matmul with a constant tridiagonal matrix: cell p reads p - 1, p, p + 1: (1, 1).
    n = x.shape[-1]
    m = np.eye(n) * 2 + np.eye(n, k=1) + np.eye(n, k=-1)
    return x @ jnp.asarray(m, x.dtype)


def resize_down_up(x):
    # jax.image.resize down by 2 then up by 2, linear. Down-sampling is antialiased: a tent of
    # half-width 2 input cells around coarse j's centre 2j + 1/2 reads 2j - 1 .. 2j + 2.
    # Up-sampling: fine p's centre on the coarse grid is p/2 - 1/4, a tent of half-width 1
    # reads coarse k - 1, k for p = 2k and k, k + 1 for p = 2k + 1. So p = 2k reads inputs
    # 2k - 3 .. 2k + 2 (back 3, forward 2), p = 2k + 1 reads 2k - 1 .. 2k + 4 (back 2, forward
    # 3). Truth (3, 3), ranges (2..3, 2..3).
    c, n = x.shape
    y = jax.image.resize(x, (c, n // 2), "linear")
    return jax.image.resize(y, (c, n), "linear")


def dead_branch(x):
    # The predicate is a constant (no cell index is negative): only x is live: (0, 0).
    n = x.shape[-1]
    return jnp.where(jnp.arange(n) < 0, jnp.roll(x, 8, axis=-1), x)


def even_odd(x):
    # Even cells read q - 1, odd cells q + 1 (a constant gather): backward 1 (even) or -1
    # (odd), forward -1 (even) or 1 (odd). Truth (1, 1), ranges (-1..1, -1..1).
    n = x.shape[-1]
    q = np.arange(n)
    src = np.where(q % 2 == 0, q - 1, q + 1) % n
    return x[:, src]


def flip_conv(x):
    # Output p reads n - 2 - p .. n - p: the extent moves with p (no stencil).
    return jnp.flip(conv(x, 3), axis=-1)


def stop_gradient_conv(x):
    # The forward value reads p - 4 .. p + 4 through the stopped branch: truth (4, 4).
    return x + lax.stop_gradient(conv(x, 9))


def _custom_vjp_conv9():
    @jax.custom_vjp
    def f(x):
        return conv(x, 9)

    # A backward pass that lies: the identity. The forward value reads p - 4 .. p + 4.
    f.defvjp(lambda x: (f(x), None), lambda _, g: (g,))
    return f


custom_vjp_conv9 = _custom_vjp_conv9()


def pixel_shuffle(x):
    # Space-to-depth by 2 (cell pairs 2m, 2m + 1 become 2 channels at coarse m), a 1x1 conv
    # mixing all channels, depth-to-space back. Output p reads its pair: even p reads p, p + 1
    # (0, 1); odd p reads p - 1, p (1, 0). Truth (1, 1), ranges (0..1, 0..1).
    c, n = x.shape
    y = x.reshape(c, n // 2, 2).transpose(0, 2, 1).reshape(2 * c, n // 2)
    w = jnp.ones((2 * c, 2 * c), x.dtype)
    y = w @ y
    return y.reshape(c, 2, n // 2).transpose(0, 2, 1).reshape(c, n)


@dataclasses.dataclass(frozen=True)
class ProbeCase:
    id: str
    fn: Callable
    truth: tuple  # per axis (backward, forward), by hand
    ranges: tuple | None = None  # per axis ((min back, max back), (min fwd, max fwd)), by hand
    structural: str = "exact"  # or "refuse"
    empirical: str = "exact"  # or "refuse"
    refusal: str = ""  # a regular expression the refusal message must match
    shape: tuple[int, ...] = (2, N)
    # Perturb with +-inf too (sees through clamps and max); off where a constant matrix has
    # zeros, since inf * 0 is nan and would show dependencies that do not exist.
    infinite: bool = True


PROBES = [
    ProbeCase("unet-reshape-pool", unet_level, ((5, 5),), (((4, 5), (4, 5)),)),
    ProbeCase("conv3-reshape-pool4", conv_pool4, ((1, 4),)),
    ProbeCase("resize-down-up", resize_down_up, ((3, 3),), (((2, 3), (2, 3)),), infinite=False),
    ProbeCase("tridiagonal-matmul", tridiagonal, ((1, 1),), infinite=False),
    ProbeCase("dead-branch", dead_branch, ((0, 0),)),
    ProbeCase("even-odd", even_odd, ((1, 1),), (((-1, 1), (-1, 1)),)),
    ProbeCase("flip-conv3", flip_conv, None, None, "refuse", "refuse", refusal="position"),
    ProbeCase("stop-gradient-conv9", stop_gradient_conv, ((4, 4),)),
    ProbeCase("custom-vjp-conv9", custom_vjp_conv9, ((4, 4),)),
    ProbeCase("pixel-shuffle", pixel_shuffle, ((1, 1),), (((0, 1), (0, 1)),)),
]
