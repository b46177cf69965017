"""Constructors that need concrete values (README "Constructors that need concrete values"):
built concretely when they fit --max-memory, with a note; refused in one paragraph otherwise.

tests.inputs_models.Sizes computes its sizes with `.tolist()` on an array, which a traced
constructor cannot do. Each test starts one measuring child process (a few seconds).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from typer.testing import CliRunner

from archinspect.cli import app
from archinspect.commands.inputs import max_memory
from archinspect.errors import UsageError
from archinspect.limits import MEMORY_LIMIT
from tests.inputs_models import Sizes

ROOT = Path(__file__).resolve().parent.parent
SPEC = "tests/specs/inputs/sizes.yaml"
runner = CliRunner()
WHY = (
    "ConcretizationTypeError at inputs_models.py:48: Abstract tracer value encountered where "
    "concrete value is expected: traced array with shape int32[3]"
)


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def test_the_constructor_really_cannot_be_traced():
    with pytest.raises(jax.errors.ConcretizationTypeError, match="Abstract tracer value"):
        jax.eval_shape(lambda: Sizes(3, 4, jax.random.PRNGKey(0)))


def test_counted_after_a_concrete_build_with_a_note():
    result = runner.invoke(app, ["count", SPEC, "--trust", "tests", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # sizes (1, 2, 3) * width 4 = 4, 8, 12 rows of 4: 16 + 32 + 48 parameters
    total = 4 * 4 + 8 * 4 + 12 * 4
    assert data["params"]["total"] == total == 96
    assert data["params"]["bytes"] == total * 4
    model = Sizes(3, 4, jax.random.PRNGKey(0))  # the oracle: built for real here
    assert sum(w.size for w in model.weights) == total
    assert model(jnp.ones(4)).shape == (24,)
    assert data["notes"] == [
        "tests.inputs_models.Sizes was built concretely (its constructor cannot be traced "
        f"abstractly: {WHY}); its arrays take 384 bytes, within --max-memory 4.0 GiB"
    ]
    shapes = runner.invoke(app, ["shapes", SPEC, "--trust", "tests", "--format", "json"])
    assert shapes.exit_code == 0, shapes.output
    assert json.loads(shapes.stdout)["output_shape"] == [24]
    assert json.loads(shapes.stdout)["notes"][0] == data["notes"][0]


def test_refused_once_over_max_memory():
    result = runner.invoke(app, ["count", SPEC, "--trust", "tests", "--max-memory", "1Ki"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    paragraph = (
        f"error: {SPEC}: cannot build tests.inputs_models.Sizes: its constructor cannot be "
        f"traced abstractly ({WHY}), and building it concretely needs more than --max-memory "
        "1.0 KiB ("
    )
    assert result.stderr.startswith(paragraph)
    assert result.stderr.count("cannot be traced abstractly") == 1
    assert result.stderr.count("\n") == 1  # one paragraph, printed once
    assert result.stderr.endswith(
        "). Raise --max-memory if this machine has the room, or make the constructor "
        "traceable (no .tolist(), bool() or int() on arrays it computes).\n"
    )
    assert "Traceback" not in result.output


def test_max_memory_is_an_amount():
    assert max_memory(None) == MEMORY_LIMIT == 4 * 2**30
    assert max_memory("512Mi") == 512 * 2**20
    assert max_memory("8G") == 8 * 10**9
    with pytest.raises(UsageError, match=r"^error: --max-memory must be a non-negative number"):
        max_memory("lots")


@pytest.mark.slow  # the note itself is asserted by the count test
def test_rf_reports_the_concrete_build_in_a_note():
    # width 1 and a 1-D input of 10 cells, one feature: each weight (s, 1) multiplies the
    # feature axis only, so every output cell reads its own input cell: RF (0, 0)
    args = ["--set", "model.width=1", "--set", "input.shape=[1, 10]", "-f", "json"]
    result = runner.invoke(app, ["rf", SPEC, "--trust", "tests", *args])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["receptive_field"]["per_axis"] == [[0, 0]]
    assert len(data["notes"]) == 1
    assert data["notes"][0].startswith("tests.inputs_models.Sizes was built concretely")


def test_every_concretization_error_falls_back():
    from archinspect.build.concrete import untraceable

    caught = untraceable()
    for error in (
        jax.errors.ConcretizationTypeError,
        jax.errors.TracerBoolConversionError,  # bool() or `if` on a traced array
        jax.errors.TracerIntegerConversionError,  # int() or an index from one
        jax.errors.TracerArrayConversionError,  # np.asarray() of one
    ):
        assert issubclass(error, caught), error
    with pytest.raises(caught, match="^Attempted boolean conversion of traced array"):
        jax.eval_shape(lambda: bool(jnp.ones(2).sum() > 0))


def test_max_memory_bounds_the_empirical_rf():
    spec = "tests/specs/inputs/conv_bf16.yaml"
    # float32 (the method's copy is float64 anyway), padding 1: the output grid is the input's
    args = ["rf", spec, "--set", "input.dtype=float32", "--set", "model.padding=1"]
    args += ["-m", "empirical"]
    refused = runner.invoke(app, [*args, "--max-memory", "1Ki"])
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.startswith(
        "error: receptive field (empirical): measuring on an input of (16, 16) cells needs about "
    )
    assert refused.stderr.endswith(
        "beyond this method's limits (4,194,304 cells; --max-memory 1,024 bytes); lower the "
        "model's widths and depth or raise --max-memory, or use the structural method\n"
    )
    measured = runner.invoke(app, [*args, "-f", "json"])  # default 4 GiB: a 3×3 conv
    assert measured.exit_code == 0, measured.output
    assert json.loads(measured.stdout)["receptive_field"]["per_axis"] == [[1, 1], [1, 1]]
