"""Sizes past what XLA can address are refused before lowering (README "Exit codes"): XLA
computes byte sizes in 64-bit integers and aborts the whole process in C++ on an overflow, so
archinspect measures every value of a program first."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from archinspect.analysis.extents import LIMIT_BYTES, check_extents, largest_value
from archinspect.errors import ArchinspectError
from tests.conftest import ROOT

F32 = jnp.float32


def jaxpr_of(fn, *shapes):
    return jax.make_jaxpr(fn)(*(jax.ShapeDtypeStruct(s, F32) for s in shapes)).jaxpr


def test_the_limit_is_two_to_the_62_bytes() -> None:
    assert LIMIT_BYTES == 4_611_686_018_427_387_904  # 2**62
    # 2**30 x 2**30 float32 = 2**60 elements x 4 bytes = 2**62 bytes: refused, the first size
    with pytest.raises(ArchinspectError, match=r"the parameter w is a float32 array of shape "):
        check_extents(
            jaxpr_of(lambda w: w * 2, (2**30, 2**30)), "program", "s.yaml", ["the parameter w"]
        )
    # one row fewer: 2**62 - 2**32 bytes, below the limit
    size, aval, where = largest_value(jaxpr_of(lambda w: w * 2, (2**30 - 1, 2**30)))
    assert size == (2**30 - 1) * 2**30 * 4 == LIMIT_BYTES - 2**32
    check_extents(jaxpr_of(lambda w: w * 2, (2**30 - 1, 2**30)), "program")


def test_the_largest_value_may_be_an_intermediate_inside_a_call() -> None:
    """A broadcast inside a cond branch: 2**31 x 2**31 float32 = 2**64 bytes, found by the
    walk into the branch, named by its primitive."""

    def fn(x):
        big = lambda y: jnp.broadcast_to(y, (2**31, 2**31)).sum()  # noqa: E731
        return jax.lax.cond(True, big, lambda y: y.sum() * 0, x)

    size, aval, where = largest_value(jaxpr_of(fn, (1, 1)))
    assert size == 2**31 * 2**31 * 4 == 2**64
    assert tuple(aval.shape) == (2**31, 2**31)
    assert where.startswith("the output of broadcast_in_dim")


def test_inspect_of_a_billion_wide_convnet_is_refused_not_aborted() -> None:
    """hidden_channels 10**9 in 1-D: the k3 hidden conv weight is 10**9 x 10**9 x 3 float32s,
    1.2e19 bytes (> 2**63: XLA aborted with 'overflow in static extent product'). A subprocess:
    a regression would abort the process, not raise."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "archinspect",
            "inspect",
            "configs/convnet.yaml",
            "--set",
            "model.hidden_channels=1000000000",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: configs/convnet.yaml: cannot lower the forward program: the parameter "
        "layers[1].weight is a float32 array of shape 1000000000x1000000000x3, 1.200e+19 bytes, "
        "beyond what XLA can address (2^62 bytes here; its sizes are 64-bit integers). Lower the "
        "widths or the resolution for FLOPs and memory; `count` and `shapes` need no program and "
        "work at this size.\n"
    )
