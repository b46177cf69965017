"""`check` of several specs traces and lowers one spec while XLA compiles the one before it
(README "Budgets in CI"): the overlap must change no figure, no order and no error."""

from __future__ import annotations

from pathlib import Path

import pytest

from archinspect.analysis import receptive_field as receptive_field_module
from archinspect.analysis import xla_cache
from archinspect.commands import measure as measure_module
from archinspect.commands.check import check_specs
from archinspect.commands.inspect import inspect_report
from archinspect.errors import ArchinspectError
from archinspect.spec import load_spec

CONV = """\
name: {name}
model:
  family: ConvNet
  num_spatial_dims: 1
  in_channels: 1
  out_channels: 1
  hidden_channels: {hidden}
  depth: 1
input:
  resolution: {resolution}
  batch_size: 2
  dtype: {dtype}
budget:
{budget}"""

# An Equinox layer built for float64 (the built-in families are float32): a float64 program.
F64 = """\
name: f64
model:
  target: equinox.nn.Conv1d
  in_channels: 1
  out_channels: 3
  kernel_size: 3
input:
  shape: [1, 16]
  layout: channels_first
  dtype: float64
  batch_size: 2
budget:
{budget}"""

TRUSTED = ("equinox",)

COMPILED = "  max_flops: 1G\n  max_memory: 1G\n"


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Five specs: a float64 one and two float32 ones whose budgets need XLA's figures (each a
    different width, so no compilation is shared), a params-only one, and one whose
    receptive field fails (an injected error, on its 24-cell input) after its programs were
    handed to XLA: that spec alone is an error, the one compiling before it is not touched."""
    monkeypatch.setenv("ARCHINSPECT_NO_CACHE", "1")  # every program is compiled: a cache hit
    xla_cache.forget_in_memory()  # would end a spec's measurement before the next starts
    analysis = receptive_field_module.receptive_field

    def failing(model, input_shape, *args, **kwargs):
        if input_shape == (1, 24):
            raise ArchinspectError("error: injected: the receptive field failed")
        return analysis(model, input_shape, *args, **kwargs)

    monkeypatch.setattr(receptive_field_module, "receptive_field", failing)
    rf = COMPILED + "  receptive_field:\n    max: 100\n"
    texts = {
        "f64.yaml": F64.format(budget=rf),
        "f32.yaml": CONV.format(
            name="f32", hidden=5, dtype="float32", resolution=16, budget=COMPILED
        ),
        "rf.yaml": CONV.format(name="rf", hidden=4, dtype="float32", resolution=24, budget=rf),
        "count.yaml": CONV.format(
            name="count", hidden=2, dtype="float32", resolution=16, budget="  max_params: 10\n"
        ),
        "wide.yaml": CONV.format(
            name="wide", hidden=7, dtype="float32", resolution=16, budget=COMPILED
        ),
    }
    out: list[tuple[str, object]] = []
    for name, text in texts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        out.append((name, load_spec(str(tmp_path / name))))
    return out


def test_the_pipeline_gives_what_each_spec_gives_alone(specs):
    """The oracle is each spec checked on its own, nothing overlapping: the pipeline's results
    and errors are those, in the specs' order (a float64 spec suspended while the next one is
    traced must keep its float64 figures, and must not lend x64 mode to the next one)."""
    together = check_specs(specs, {}, trusted=TRUSTED)
    alone = [check_specs([one], {}, trusted=TRUSTED) for one in specs]
    assert together.results == tuple(r for a in alone for r in a.results)
    assert [e.message for e in together.errors] == [e.message for a in alone for e in a.errors]
    assert [e.spec for e in together.errors] == ["rf.yaml"]
    by = {(r.name, r.budget): r.actual for r in together.results}
    # ConvNet, 1-D, depth 1: depth + 1 = 2 convolutions of kernel 3, 1 -> h -> 1 channels:
    # (1*h*3 + h) + (h*1*3 + 1), at h = 2.
    assert by[("count", "max_params")] == (1 * 2 * 3 + 2) + (2 * 1 * 3 + 1)
    # The premise: the float64 spec's training step is a float64 program (else nothing was at
    # stake): its 3*1*3 weights, 3 biases, 2x1x16 input and 2x3x14 target, 8 bytes each.
    report = inspect_report(specs[0][1], trusted=TRUSTED, layer_costs=False)
    assert report.memory.train_step.argument_bytes == 8 * (3 * 1 * 3 + 3 + 2 * 16 + 2 * 3 * 14)
    assert by[("f64", "max_memory")] == report.memory.train_step.peak_bytes


def test_each_spec_is_traced_while_the_one_before_compiles(specs, monkeypatch):
    """The order of events: a spec that compiles is left waiting while the next one starts,
    and it is finished before the one after that starts (at most two in flight)."""
    events: list[str] = []
    steps = measure_module.measure_steps

    def logged(spec, names, **kwargs):
        events.append(f"start {spec.name}")
        result = yield from steps(spec, names, **kwargs)
        events.append(f"end {spec.name}")
        return result

    monkeypatch.setattr(measure_module, "measure_steps", logged)
    check_specs(specs, {}, trusted=TRUSTED)
    assert events == [
        "start f64",
        "start f32",  # f64 compiles meanwhile
        "end f64",
        "start rf",  # f32 compiles meanwhile; rf's error ends it in its first step
        "end f32",
        "start count",  # nothing to compile: it ends in its first step
        "end count",
        "start wide",
        "end wide",
    ]
