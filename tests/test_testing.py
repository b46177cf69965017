"""`archinspect.testing` (README "Python API"): assertions for users' own suites pass within
their limits and fail with `archinspect check`'s budget message, word for word."""

from __future__ import annotations

import re

import jax.numpy as jnp
import pytest

from archinspect.build import build_abstract
from archinspect.errors import ArgumentError
from archinspect.spec import load_spec
from archinspect.testing import assert_params, assert_receptive_field

# configs/unet.yaml: 2,357,441 parameters (tests/test_cli.py works it out by hand), receptive
# field (122,122) on both axes.
UNET_TOTAL = 2_357_441


@pytest.fixture(scope="module")
def unet():
    return build_abstract(load_spec("configs/unet.yaml", []))


def stencil(x):
    return x + jnp.roll(x, 1, -1) + jnp.roll(x, -2, -1)  # (1, 2): one back, two forward


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


@pytest.mark.usefixtures("repo_root")
class TestAssertParams:
    def test_within_the_limits_returns_the_count(self, unet):
        report = assert_params(unet, max="2.5M")
        assert report.params.total == UNET_TOTAL
        assert assert_params(unet, max=UNET_TOTAL, min=UNET_TOTAL).params.total == UNET_TOTAL
        assert_params(unet, min="2M", max=2.4e6)

    def test_over_the_maximum_fails_with_checks_message(self, unet):
        with pytest.raises(
            AssertionError,
            match=exactly("parameters 2,357,441 exceed max_params 1,500,000 by 857,441"),
        ):
            assert_params(unet, max="1.5M")
        with pytest.raises(
            AssertionError, match=exactly("parameters 2,357,441 exceed max_params 2,357,440 by 1")
        ):
            assert_params(unet, max=UNET_TOTAL - 1)

    def test_under_the_minimum_fails_with_the_shortfall(self, unet):
        with pytest.raises(
            AssertionError,
            match=exactly("parameters 2,357,441 fall short of min_params 3,000,000 by 642,559"),
        ):
            assert_params(unet, min="3M")

    def test_a_limit_that_is_no_number_is_refused(self, unet):
        message = (
            "archinspect.testing.assert_params: `max` (='lots') must be a non-negative number: "
            "1000000, 1_000_000, 1e6, '1.5M', '20G', '512Mi'"
        )
        with pytest.raises(ArgumentError, match=exactly(message)):
            assert_params(unet, max="lots")
        with pytest.raises(ArgumentError, match=r"`min` \(=-1\) must be a non-negative number"):
            assert_params(unet, min=-1)
        with pytest.raises(
            ArgumentError,
            match=exactly("archinspect.testing.assert_params: give at least one of `max`, `min`"),
        ):
            assert_params(unet)


class TestAssertReceptiveField:
    def test_within_the_limits_returns_the_report(self):
        report = assert_receptive_field(stencil, (1, 32), min=1, max=2)
        assert report.result.per_axis == ((1, 2),)
        assert_receptive_field(stencil, (1, 32), min=[(1, 2)], max=[[1, 2]])
        assert_receptive_field(stencil, (1, 32), max=[2], method="both")

    def test_a_minimum_not_met_fails_with_checks_message(self):
        with pytest.raises(
            AssertionError,
            match=exactly(
                "receptive field (1,2) violates at least (2,2) per axis (backward, forward)"
            ),
        ):
            assert_receptive_field(stencil, (1, 32), min=2)

    def test_a_maximum_exceeded_fails_per_direction(self):
        with pytest.raises(
            AssertionError,
            match=exactly(
                "receptive field (1,2) violates at most (3,1) per axis (backward, forward)"
            ),
        ):
            assert_receptive_field(stencil, (1, 32), max=[(3, 1)])

    def test_both_limits_broken_give_both_messages(self):
        def shift(x):
            return x + jnp.roll(x, 4, -1)  # four cells back, none forward

        with pytest.raises(
            AssertionError,
            match=exactly(
                "receptive field (4,0) violates at least (1,1) per axis (backward, forward); "
                "receptive field (4,0) violates at most (3,3) per axis (backward, forward)"
            ),
        ):
            assert_receptive_field(shift, (1, 32), min=1, max=3)

    @pytest.mark.usefixtures("repo_root")
    def test_a_model_per_axis(self, unet):
        assert_receptive_field(unet, (1, 128, 128), min=122, max=[122, (122, 122)])
        with pytest.raises(
            AssertionError,
            match=exactly(
                "receptive field (122,122) (122,122) violates at least (123,123) (0,0) per axis "
                "(backward, forward)"
            ),
        ):
            assert_receptive_field(unet, (1, 128, 128), min=[123, 0])

    def test_a_limit_of_the_wrong_shape_is_refused(self):
        message = (
            "archinspect.testing.assert_receptive_field: `min` (=[1, 2]) must be a non-negative "
            "int, or one entry per spatial axis (1), each an int or a (backward, forward) pair"
        )
        with pytest.raises(ArgumentError, match=exactly(message)):
            assert_receptive_field(stencil, (1, 32), min=[1, 2])
        with pytest.raises(ArgumentError, match=r"`max` \(=\[\(1, 2, 3\)\]\) must be"):
            assert_receptive_field(stencil, (1, 32), max=[(1, 2, 3)])
        with pytest.raises(
            ArgumentError,
            match=exactly(
                "archinspect.testing.assert_receptive_field: give at least one of `min`, `max`"
            ),
        ):
            assert_receptive_field(stencil, (1, 32))
