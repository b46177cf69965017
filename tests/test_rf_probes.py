"""The adversarial probes (tests/rf_probes.py): no method gives a silent wrong receptive field.

Each probe's truth is worked out by hand and reproduced here by the perturbation oracle;
each method must give exactly that truth, or refuse with a message that names why
(README, "Exact receptive fields").
"""

from __future__ import annotations

import jax.numpy as jnp
import pytest

from archinspect.analysis.receptive_field import receptive_field
from archinspect.errors import ArchinspectError
from tests.rf_oracle import Probe, oracle
from tests.rf_probes import PROBES


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_the_oracle_reproduces_the_hand_truth(probe):
    per_axis, ranges = oracle(probe.fn, probe.shape, probe.infinite)
    if probe.truth is None:
        # No stencil: across the measured cells the backward extent moves by far more than a
        # stencil's width (for the flip: from -14 to 16 cells on 32).
        (back_lo, back_hi), _ = ranges[0]
        assert back_hi - back_lo >= probe.shape[-1] - 4
        return
    assert per_axis == probe.truth
    if probe.ranges is not None:
        assert ranges == probe.ranges


@pytest.mark.parametrize("method", ["structural", "empirical"])
@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_each_method_gives_the_truth_or_refuses(probe, method):
    model = Probe(probe.fn, jnp.ones(()))
    expect = getattr(probe, method)
    if expect == "refuse":
        with pytest.raises(ArchinspectError, match=probe.refusal):
            receptive_field(model, probe.shape, method=method)
        return
    got = receptive_field(model, probe.shape, method=method)
    assert got.per_axis == probe.truth
    if probe.ranges is not None:
        assert got.position_range == probe.ranges
    assert not got.global_  # none of the probes couples globally
