"""A failure of the user's model or spec is exit 2 with the same message in every command.

Three bad-but-legal-looking specs, through every command that builds or runs the model (count
--rf, shapes, inspect, rf by each method, sweep, solve, check):

- a built-in UNet whose resolution is not divisible by 2**num_levels (its forward would raise;
  its family's declared input rule refuses it at validation, README "The spec file");
- a `target:` whose __call__ raises;
- a `target:` whose constructor raises.

Each says exactly what `shapes` says, with exit 2 (README "Exit codes"): the failure is the
spec's when the model's own forward pass fails too (archinspect/build/faults.py). A failure
inside an analysis on a model that runs is still a bug (exit 3). And every command taking a
parameter name (sweep and solve --param, --set on a target) says "did you mean" with exit 2.
"""

from __future__ import annotations

import json
import textwrap
import uuid

import pytest
from typer.testing import CliRunner

from archinspect.cli import app

runner = CliRunner()

COMMANDS = [
    ("count", "--rf"),
    ("shapes",),
    ("inspect",),
    ("rf",),
    ("rf", "--method", "empirical"),
    ("rf", "--method", "both"),
    ("check",),
    ("solve", "--param", "input.batch_size", "--max-params", "1G"),
]


def invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def bad(tmp_path, monkeypatch):
    """The three specs in the working directory, and the trust option for the targets."""
    monkeypatch.chdir(tmp_path)
    package = f"uxbad_{uuid.uuid4().hex[:8]}"
    # outside the working directory, on PYTHONPATH: an installed location for `target:`
    where = tmp_path / "site"
    where.mkdir()
    (where / f"{package}.py").write_text(
        textwrap.dedent(
            """
            import equinox as eqx


            class CallRaises(eqx.Module):
                conv: eqx.nn.Conv

                def __init__(self, key):
                    self.conv = eqx.nn.Conv(1, 1, 1, 3, key=key)

                def __call__(self, x):
                    raise RuntimeError("my model refuses this input")


            class CtorRaises(eqx.Module):
                def __init__(self, key):
                    raise RuntimeError("my constructor refuses")

                def __call__(self, x):
                    return x
            """
        )
    )
    monkeypatch.syspath_prepend(str(where))
    monkeypatch.setenv("PYTHONPATH", str(where))
    budget = "budget: {max_params: 1G, receptive_field: {min: 1}}\n"  # check runs the model
    target = "input: {channels: 1, resolution: [16]}\n" + budget
    (tmp_path / "call.yaml").write_text(f"model: {{target: {package}.CallRaises}}\n{target}")
    (tmp_path / "ctor.yaml").write_text(f"model: {{target: {package}.CtorRaises}}\n{target}")
    (tmp_path / "unet.yaml").write_text(
        "model: {family: ClassicUNet, num_spatial_dims: 1, in_channels: 1, out_channels: 1, "
        "hidden_channels: 1, num_levels: 2}\ninput: {resolution: [10]}\n" + budget
    )
    return package


def messages(package: str) -> dict[str, str]:
    return {
        # 10 cells, 2 levels: 10 is not divisible by 2**2 = 4 (8 and 12 are); line 2, column
        # 21 is the value of `resolution:`
        "unet.yaml": "error: unet.yaml is not a valid archinspect spec (1 problem)\n"
        "unet.yaml:2:21: input.resolution: a ClassicUNet with num_levels=2 needs every spatial "
        "size divisible by 2**2 = 4 (e.g. 8 or 12), got [10]\n",
        "call.yaml": f"error: call.yaml: the forward pass of {package}.CallRaises fails for "
        "input shape (1, 16): RuntimeError: my model refuses this input\n",
        "ctor.yaml": f"error: ctor.yaml: cannot build {package}.CtorRaises with these "
        "arguments: RuntimeError: my constructor refuses\n",
    }


@pytest.mark.parametrize("spec", ["unet.yaml", "call.yaml", "ctor.yaml"])
def test_every_command_says_what_shapes_says(bad, spec):
    expected = messages(bad)[spec]
    for command in COMMANDS:
        result = invoke(*command, spec, "--trust", bad)
        assert (command, result.exit_code, result.stderr) == (command, 2, expected)
        assert result.stdout == "" or command[0] == "check"  # check prints its (empty) table


def test_sweep_refuses_the_unet_at_validation_before_any_row(bad):
    result = invoke("sweep", "unet.yaml", "-p", "input.batch_size", "--values", "1,2", "-f", "json")
    assert (result.exit_code, result.stderr, result.stdout) == (2, messages(bad)["unet.yaml"], "")


@pytest.mark.parametrize("spec", ["call.yaml", "ctor.yaml"])
def test_sweep_prints_the_table_then_the_same_message(bad, spec):
    result = invoke(
        "sweep", spec, "--trust", bad, "-p", "input.batch_size", "--values", "1,2", "-f", "json"
    )
    assert (result.exit_code, result.stderr) == (2, messages(bad)[spec])
    rows = json.loads(result.stdout)["rows"]
    assert [r["input.batch_size"] for r in rows] == [1, 2]
    if spec == "ctor.yaml":  # nothing was built: no metric
        assert [r["params"] for r in rows] == [None, None]
    else:  # counted all the same; what needs the forward pass failed
        assert all(r["failed"] == ["receptive_field", "output_shape"] for r in rows)


def test_counting_needs_no_forward_pass(bad):
    """Counting never needs the model to run: the 3-tap conv's 3 + 1 parameters. `count`'s
    default receptive field needs the forward pass, so it becomes a note that says why;
    `--no-rf` does not try; an explicit `--rf` is the error every command gives."""
    total = 3 * 1 * 1 + 1
    materialized = (
        "materialized not measured: the forward pass fails on input 1×16 (RuntimeError: my "
        "model refuses this input); total and learnable are exact"
    )
    result = invoke("count", "call.yaml", "--trust", bad, "-f", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["params"]["total"] == total and "receptive_field" not in report
    assert report["notes"] == [
        materialized,
        "receptive field not available: the forward pass fails (see above)",
    ]
    result = invoke("count", "call.yaml", "--trust", bad, "--no-rf", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"]["total"] == total
    assert json.loads(result.stdout)["notes"] == [materialized]
    result = invoke("count", "call.yaml", "--trust", bad, "--rf", "-f", "json")
    assert (result.exit_code, result.stderr) == (2, messages(bad)["call.yaml"])


@pytest.mark.usefixtures("repo_root")
def test_a_failure_of_the_analysis_on_a_model_that_runs_is_still_a_bug(monkeypatch):
    import archinspect.analysis.receptive_field as rf

    def broken(*args, **kwargs):
        raise ValueError("a bug in the analysis")

    monkeypatch.setattr(rf, "receptive_field", broken)
    result = invoke("rf", "configs/convnet.yaml")
    assert result.exit_code == 3
    assert result.stderr == (
        "internal error: ValueError: a bug in the analysis\n"
        "(this is a bug in archinspect; run with --debug for the traceback)\n"
    )


# ---------------------------------------------------------------------------------------------
# a misspelt parameter name: "did you mean", exit 2, in every command that takes one

PDEQ_ARGS = (
    "num_spatial_dims, in_channels, out_channels, hidden_channels, num_levels, use_norm, "
    "activation, boundary_mode"
)
UNET_ARGS = PDEQ_ARGS  # the built-in ClassicUNet declares the same arguments


@pytest.mark.usefixtures("repo_root")
class TestDidYouMean:
    def test_solve_on_a_target(self):
        result = invoke(
            "solve",
            "configs/pdequinox_unet.yaml",
            "--param",
            "hidden_channel",
            "--max-params",
            "1M",
        )
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == (
            "error: --param hidden_channel: pdequinox.arch.ClassicUNet has no argument "
            f"'hidden_channel'; did you mean 'hidden_channels'? (it takes: {PDEQ_ARGS}, "
            "input.resolution, input.batch_size)\n"
        )

    def test_sweep_on_a_target(self):
        result = invoke("sweep", "configs/pdequinox_unet.yaml", "--param", "hidden_channel")
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == (
            "error: --param hidden_channel: pdequinox.arch.ClassicUNet has no argument "
            f"'hidden_channel'; did you mean 'hidden_channels'? (sweepable: {PDEQ_ARGS}, "
            "input.resolution, input.batch_size)\n"
        )

    def test_set_on_a_target(self):
        result = invoke("count", "configs/pdequinox_unet.yaml", "--set", "model.hidden_channel=3")
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == (
            "error: configs/pdequinox_unet.yaml is not a valid archinspect spec (1 problem)\n"
            "--set model.hidden_channel=3: model.hidden_channel: pdequinox.arch.ClassicUNet "
            "has no argument 'hidden_channel'; did you mean 'hidden_channels'? "
            f"(it takes: {PDEQ_ARGS})\n"
        )

    @pytest.mark.parametrize(
        ("command", "listing"),
        [
            (("sweep",), f"sweepable: {UNET_ARGS}, input.resolution, input.batch_size"),
            (
                ("solve", "--max-params", "1M"),
                "solvable: in_channels, out_channels, hidden_channels, num_levels, "
                "input.resolution, input.batch_size",
            ),
        ],
    )
    def test_an_input_key(self, command, listing):
        result = invoke(*command, "configs/unet.yaml", "--param", "input.resolutio")
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == (
            "error: --param input.resolutio: ClassicUNet has no argument 'input.resolutio'; "
            f"did you mean 'input.resolution'? ({listing})\n"
        )

    def test_a_nested_key(self):
        result = invoke(
            "sweep",
            "configs/conv_knobs.yaml",
            "--param",
            "layers[0].conv.kernel_siz",
            "--values",
            "3",
        )
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr.startswith("error: --param layers[0].conv.kernel_siz: layers[0].conv")
        assert result.stderr.endswith(
            ", which has no key 'kernel_siz'; did you mean 'kernel_size'?\n"
        )
