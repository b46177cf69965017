"""Spec loading: defaults, explicit keys, --set overrides, fallbacks, numbers, shipped configs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archinspect.cli import app
from archinspect.errors import (
    ArchinspectError,
    Location,
    Problem,
    SpecError,
    UsageError,
)
from archinspect.spec import InputSpec, Spec, load_spec, load_spec_text
from archinspect.spec.default import DEFAULT_SOURCE
from archinspect.spec.numbers import parse_amount

REPO = Path(__file__).resolve().parent.parent
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))

CONVNET = """\
model:
  family: ConvNet
  num_spatial_dims: 1
  in_channels: 1
  out_channels: 1
"""

UNET_2D = """\
name: my-unet
model:
  family: ClassicUNet
  num_spatial_dims: 2
  in_channels: 3
  out_channels: 2
  hidden_channels: 8
  use_norm: false
input:
  resolution: [32, 16]
  batch_size: 4
  dtype: float32
"""

DEFAULT_NOTE = (
    "note: no spec given and no ./archinspect.yaml; using the embedded default "
    "(2-D ClassicUNet at 64x64)"
)

runner = CliRunner()


def _problem_lines(exc: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return exc.value.message.splitlines()[1:]


# --- defaults and explicit keys ---------------------------------------------------------------


def test_defaults_are_filled_in() -> None:
    spec = load_spec_text(CONVNET, "convnet.yaml")
    assert isinstance(spec, Spec)
    assert spec.name == "spec"
    assert spec.source == "convnet.yaml"
    assert spec.family == "ConvNet"
    assert spec.args == {
        "num_spatial_dims": 1,
        "in_channels": 1,
        "out_channels": 1,
        "hidden_channels": 16,
        "depth": 10,
        "kernel_size": 3,
        "activation": "relu",
        "final_activation": "identity",
        "use_bias": True,
        "use_final_bias": True,
        "boundary_mode": "periodic",
    }
    assert spec.explicit == frozenset({"num_spatial_dims", "in_channels", "out_channels"})
    assert spec.input == InputSpec(resolution=(64,), batch_size=1, dtype="float32")
    assert spec.sweep == {}
    assert spec.budget == {}
    assert spec.notes == ()
    assert spec.num_spatial_dims == 1
    assert spec.input_shape == (1, 64)


def test_explicit_values_are_kept() -> None:
    spec = load_spec_text(UNET_2D, "unet.yaml", default_name="unet")
    assert spec.name == "my-unet"
    assert spec.family == "ClassicUNet"
    assert spec.args == {
        "num_spatial_dims": 2,
        "in_channels": 3,
        "out_channels": 2,
        "hidden_channels": 8,
        "num_levels": 4,
        "use_norm": False,
        "activation": "relu",
        "boundary_mode": "periodic",
    }
    assert spec.explicit == frozenset(
        {"num_spatial_dims", "in_channels", "out_channels", "hidden_channels", "use_norm"}
    )
    assert spec.input == InputSpec(resolution=(32, 16), batch_size=4, dtype="float32", channels=3)
    assert spec.input_shape == (3, 32, 16)


def test_positions_are_recorded() -> None:
    spec = load_spec_text(UNET_2D, "unet.yaml")
    assert spec.marks["model.hidden_channels"] == Location("unet.yaml", 7, 20)
    assert spec.marks["input.resolution"] == Location("unet.yaml", 10, 15)
    assert spec.marks["input.resolution[1]"] == Location("unet.yaml", 10, 20)


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "tiny-conv.yaml"
    path.write_text(CONVNET, encoding="utf-8")
    spec = load_spec(path)
    assert spec.name == "tiny-conv"
    assert spec.source == str(path)


def test_list_argument_is_kept() -> None:
    text = CONVNET.replace("ConvNet", "DilatedResNet") + "  dilation_rates: [1, 3, 1]\n"
    spec = load_spec_text(text, "d.yaml")
    assert spec.args["dilation_rates"] == [1, 3, 1]
    assert spec.args["hidden_channels"] == 32
    assert "dilation_rates" in spec.explicit


def test_optional_list_may_be_null() -> None:
    text = CONVNET.replace("ConvNet", "ModernUNet") + "  channel_multipliers: null\n"
    spec = load_spec_text(text, "m.yaml")
    assert spec.args["channel_multipliers"] is None
    assert spec.args["num_levels"] == 4


def test_underscored_integers() -> None:
    """A budget amount keeps its `_` separators (read as a string by a YAML 1.2 editor, it is
    the same amount); an argument does not: 1_024 is 1024 to YAML 1.1 and a string to 1.2."""
    text = CONVNET + "budget:\n  max_params: 1_000_000\n"
    spec = load_spec_text(text, "u.yaml")
    assert spec.budget == {"max_params": 1_000_000}
    with pytest.raises(SpecError, match=r"hidden_channels: 1_024 is 1024 in YAML 1.1 and a string"):
        load_spec_text(CONVNET + "  hidden_channels: 1_024\n", "u.yaml")


def test_budget_amounts_are_parsed() -> None:
    text = CONVNET + (
        "budget:\n"
        "  max_params: 1.5M\n"
        "  max_learnable_params: 1_000_000\n"
        "  max_flops: 5e9\n"
        "  max_param_bytes: 512Mi\n"
        "  max_memory: 2.5e9\n"
        "  receptive_field: {min: 32}\n"
    )
    spec = load_spec_text(text, "b.yaml")
    assert spec.budget == {
        "max_params": 1_500_000,
        "max_learnable_params": 1_000_000,
        "max_flops": 5_000_000_000,
        "max_param_bytes": 536_870_912,
        "max_memory": 2_500_000_000,
        "receptive_field": {"min": 32},
    }


def test_sweep_values_are_kept() -> None:
    text = CONVNET + "sweep:\n  hidden_channels: [4, 8]\n  input.resolution: [32, 64]\n"
    spec = load_spec_text(text, "s.yaml")
    assert spec.sweep == {"hidden_channels": [4, 8], "input.resolution": [32, 64]}


# --- resolution --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dims", "resolution", "expected"),
    [
        (1, "", (64,)),
        (2, "", (64, 64)),
        (3, "input:\n  resolution: 32\n", (32, 32, 32)),
        (2, "input:\n  resolution: 48\n", (48, 48)),
        (2, "input:\n  resolution: [48, 24]\n", (48, 24)),
    ],
)
def test_resolution_is_broadcast(dims: int, resolution: str, expected: tuple[int, ...]) -> None:
    text = CONVNET.replace("num_spatial_dims: 1", f"num_spatial_dims: {dims}") + resolution
    assert load_spec_text(text, "r.yaml").input.resolution == expected


@pytest.mark.parametrize(("dims", "expected"), [(1, (48,)), (2, (48, 48))])
def test_mlp_resolution_defaults_to_num_points(dims: int, expected: tuple[int, ...]) -> None:
    text = CONVNET.replace("ConvNet", "MLP").replace("spatial_dims: 1", f"spatial_dims: {dims}")
    text += "  num_points: 48\n"
    spec = load_spec_text(text, "mlp.yaml")
    assert spec.input.resolution == expected
    assert spec.args["num_points"] == 48
    assert spec.args["width_size"] == 64


# --- --set overrides ---------------------------------------------------------------------------


def test_set_int() -> None:
    spec = load_spec_text(CONVNET, "c.yaml", ["model.hidden_channels=32"])
    assert spec.args["hidden_channels"] == 32
    assert type(spec.args["hidden_channels"]) is int
    assert "hidden_channels" in spec.explicit
    assert spec.marks["model.hidden_channels"] == Location("--set model.hidden_channels=32")


def test_set_bool_and_string() -> None:
    spec = load_spec_text(UNET_2D, "u.yaml", ["model.use_norm=true", "model.activation=gelu"])
    assert spec.args["use_norm"] is True
    assert spec.args["activation"] == "gelu"


def test_set_false() -> None:
    text = CONVNET.replace("ConvNet", "ModernResNet")
    spec = load_spec_text(text, "r.yaml", ["model.use_norm=false"])
    assert spec.args["use_norm"] is False
    assert spec.explicit == frozenset(
        {"num_spatial_dims", "in_channels", "out_channels", "use_norm"}
    )


def test_set_list_replaces_file_value() -> None:
    spec = load_spec_text(UNET_2D, "u.yaml", ["input.resolution=[64, 128]"])
    assert spec.input.resolution == (64, 128)
    assert spec.marks["input.resolution[0]"] == Location("--set input.resolution=[64, 128]")


def test_set_creates_missing_sections() -> None:
    spec = load_spec_text(CONVNET, "c.yaml", ["budget.max_params=1.5M", "name=renamed"])
    assert spec.budget == {"max_params": 1_500_000}
    assert spec.name == "renamed"


def test_set_into_empty_file() -> None:
    overrides = [
        "model.family=ConvNet",
        "model.num_spatial_dims=2",
        "model.in_channels=1",
        "model.out_channels=1",
    ]
    spec = load_spec_text("", "empty.yaml", overrides)
    assert spec.family == "ConvNet"
    assert spec.input.resolution == (64, 64)


def test_later_set_wins() -> None:
    overrides = ["model.hidden_channels=8", "model.depth=2", "model.hidden_channels=64"]
    spec = load_spec_text(CONVNET, "c.yaml", overrides)
    assert spec.args["hidden_channels"] == 64
    assert spec.args["depth"] == 2


def test_set_replaces_a_bad_file_value() -> None:
    text = CONVNET + "  hidden_channels: -16\n"
    spec = load_spec_text(text, "c.yaml", ["model.hidden_channels=16"])
    assert spec.args["hidden_channels"] == 16


def test_bad_set_value_is_located_at_the_override() -> None:
    with pytest.raises(SpecError, match=r"\(1 problem\)") as exc:
        load_spec_text(CONVNET, "c.yaml", ["model.hidden_channels=-3"])
    assert _problem_lines(exc) == [
        "--set model.hidden_channels=-3: model.hidden_channels: must be a positive integer, got -3"
    ]
    assert exc.value.problems == [
        Problem(
            "model.hidden_channels",
            "must be a positive integer, got -3",
            Location("--set model.hidden_channels=-3"),
        )
    ]


def test_unknown_set_key_is_located_at_the_override() -> None:
    with pytest.raises(SpecError, match=re.escape("--set model.x=5: model.x: unknown key 'x'")):
        load_spec_text(CONVNET, "c.yaml", ["model.x=5"])


def test_set_bool_where_int_expected() -> None:
    with pytest.raises(SpecError, match=r"got true \(a boolean\)") as exc:
        load_spec_text(CONVNET, "c.yaml", ["model.hidden_channels=true"])
    assert _problem_lines(exc) == [
        "--set model.hidden_channels=true: model.hidden_channels: "
        "must be a positive integer, got true (a boolean)"
    ]


def test_set_problems_come_after_file_problems() -> None:
    text = CONVNET + "  depth: -1\n"
    with pytest.raises(SpecError, match=r"\(2 problems\)") as exc:
        load_spec_text(text, "c.yaml", ["model.kernel_size=0"])
    assert _problem_lines(exc) == [
        "c.yaml:6:10: model.depth: must be a non-negative integer, got -1",
        "--set model.kernel_size=0: model.kernel_size: must be a positive integer, got 0",
    ]


def test_set_tag_is_refused() -> None:
    with pytest.raises(SpecError, match="is not allowed") as exc:
        load_spec_text(CONVNET, "c.yaml", ["model.hidden_channels=!!python/name:os.system"])
    assert _problem_lines(exc) == [
        "--set model.hidden_channels=!!python/name:os.system: model.hidden_channels: "
        "YAML tag '!!python/name:os.system' is not allowed; "
        "archinspect reads plain (safe) YAML only"
    ]


def test_set_invalid_yaml_value() -> None:
    with pytest.raises(SpecError, match="invalid YAML") as exc:
        load_spec_text(CONVNET, "c.yaml", ["model.hidden_channels=[1"])
    assert _problem_lines(exc) == [
        "--set model.hidden_channels=[1: model.hidden_channels: "
        "invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence at line 1, col 1)"
    ]


def test_empty_set_value_is_located_at_the_override() -> None:
    with pytest.raises(SpecError, match="got null") as exc:
        load_spec_text(CONVNET + "  hidden_channels: 8\n", "c.yaml", ["model.hidden_channels="])
    assert _problem_lines(exc) == [
        "--set model.hidden_channels=: model.hidden_channels: must be a positive integer, got null"
    ]


@pytest.mark.parametrize("item", ["model.hidden_channels", "=3", "model..x=1", ".x=1", " =1"])
def test_malformed_set_is_a_usage_error(item: str) -> None:
    with pytest.raises(UsageError, match=re.escape(f"got {item!r}")) as exc:
        load_spec_text(CONVNET, "c.yaml", [item])
    assert exc.value.exit_code == 2
    assert exc.value.message == (
        "error: --set expects KEY=VALUE with a dotted key, e.g. "
        f"--set model.hidden_channels=32; got {item!r}"
    )


def test_malformed_set_on_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = runner.invoke(app, ["count", "configs/convnet.yaml", "--set", "hidden_channels"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: --set expects KEY=VALUE with a dotted key, e.g. "
        "--set model.hidden_channels=32; got 'hidden_channels'\n"
    )


def test_bad_set_on_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = runner.invoke(
        app, ["validate", "configs/convnet.yaml", "--set", "model.kernel_size=0"]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: configs/convnet.yaml is not a valid archinspect spec (1 problem)\n"
        "--set model.kernel_size=0: model.kernel_size: must be a positive integer, got 0\n"
    )


# --- --set with list indices ------------------------------------------------------------------

DILATED = """\
model:
  family: DilatedResNet
  num_spatial_dims: 1
  in_channels: 1
  out_channels: 1
  dilation_rates: [1, 2, 4]
"""


def test_set_list_item() -> None:
    spec = load_spec_text(DILATED, "d.yaml", ["model.dilation_rates[1]=3"])
    assert spec.args["dilation_rates"] == [1, 3, 4]
    assert spec.marks["model.dilation_rates[1]"] == Location("--set model.dilation_rates[1]=3")
    assert spec.marks["model.dilation_rates[0]"] == Location("d.yaml", 6, 20)


def test_set_list_item_of_the_family_default() -> None:
    # The file leaves dilation_rates to the family's default [1, 2, 4, 8, 4, 2, 1].
    text = DILATED.replace("  dilation_rates: [1, 2, 4]\n", "")
    spec = load_spec_text(text, "d.yaml", ["model.dilation_rates[3]=16"])
    assert spec.args["dilation_rates"] == [1, 2, 4, 16, 4, 2, 1]
    assert "dilation_rates" in spec.explicit
    # ... and the declaration's own default is left alone.
    assert load_spec_text(text, "d.yaml").args["dilation_rates"] == [1, 2, 4, 8, 4, 2, 1]


def test_set_list_items_later_wins() -> None:
    overrides = [
        "model.dilation_rates[0]=5",
        "model.dilation_rates[2]=6",
        "model.dilation_rates[0]=7",
    ]
    spec = load_spec_text(DILATED, "d.yaml", overrides)
    assert spec.args["dilation_rates"] == [7, 2, 6]


def test_set_nested_list_item() -> None:
    spec = load_spec_text(UNET_2D, "u.yaml", ["input.resolution[1]=64"])
    assert spec.input.resolution == (32, 64)


def test_a_bad_list_item_is_located_at_the_override() -> None:
    with pytest.raises(SpecError, match=r"\(1 problem\)") as exc:
        load_spec_text(DILATED, "d.yaml", ["model.dilation_rates[1]=0"])
    assert _problem_lines(exc) == [
        "--set model.dilation_rates[1]=0: model.dilation_rates: "
        "must be a list of positive integers, got [1, 0, 4]"
    ]


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (
            "model.dilation_rates[3]=1",
            "model.dilation_rates: has 3 entries (indices 0 to 2), "
            "so --set model.dilation_rates[3] cannot set index 3",
        ),
        (
            "model.hidden_channels[0]=1",
            "model.hidden_channels: is 32 (the family's default), not a list, "
            "so --set model.hidden_channels[0] cannot set index 0 in it",
        ),
        (
            "model.num_spatial_dims[0]=1",
            "model.num_spatial_dims: is 1, not a list, "
            "so --set model.num_spatial_dims[0] cannot set index 0 in it",
        ),
        (
            "model.dilation_rates.first=1",
            "model.dilation_rates: is [1, 2, 4], not a mapping, "
            "so --set model.dilation_rates.first cannot set a key inside it",
        ),
        (
            "budget.max_flops[0]=1",
            "budget.max_flops: is not set, so --set budget.max_flops[0] cannot set index 0 in "
            "it; give the whole list, e.g. --set budget.max_flops=[...]",
        ),
        (
            "input.resolution[0][1]=1",
            "input.resolution[0]: is 32, not a list, "
            "so --set input.resolution[0][1] cannot set index 1 in it",
        ),
    ],
)
def test_bad_list_index_is_located_at_the_override(item: str, problem: str) -> None:
    text = DILATED + "input:\n  resolution: [32]\n"
    with pytest.raises(SpecError, match=re.escape(problem)) as exc:
        load_spec_text(text, "d.yaml", [item])
    assert _problem_lines(exc) == [f"--set {item}: {problem}"]


def test_an_index_into_an_empty_list() -> None:
    with pytest.raises(SpecError, match=r"\(2 problems\)") as exc:
        load_spec_text(DILATED, "d.yaml", ["model.dilation_rates=[]", "model.dilation_rates[0]=1"])
    assert _problem_lines(exc) == [
        "--set model.dilation_rates[0]=1: model.dilation_rates: is an empty list, "
        "so --set model.dilation_rates[0] cannot set index 0 in it",
        "--set model.dilation_rates=[]: model.dilation_rates: "
        "must be a non-empty list of positive integers, got []",
    ]


@pytest.mark.parametrize(
    "item", ["model.dilation_rates[-1]=1", "model.dilation_rates[]=1", "model.x[1=2", "[0]=1"]
)
def test_malformed_index_is_a_usage_error(item: str) -> None:
    with pytest.raises(UsageError, match=re.escape(f"got {item!r}")) as exc:
        load_spec_text(DILATED, "d.yaml", [item])
    assert exc.value.message == (
        "error: --set expects KEY=VALUE with a dotted key, e.g. "
        f"--set model.hidden_channels=32; got {item!r}"
    )


def test_list_index_on_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = runner.invoke(
        app,
        [
            "validate",
            "configs/dilated_resnet.yaml",
            "--set",
            "model.dilation_rates[1]=3",
            "--set",
            "model.dilation_rates[7]=3",
        ],
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: configs/dilated_resnet.yaml is not a valid archinspect spec (1 problem)\n"
        "--set model.dilation_rates[7]=3: model.dilation_rates: has 7 entries "
        "(indices 0 to 6), so --set model.dilation_rates[7] cannot set index 7\n"
    )


# --- fallbacks ---------------------------------------------------------------------------------


def test_fallback_to_archinspect_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "archinspect.yaml").write_text(CONVNET, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    spec = load_spec()
    assert spec.source == "archinspect.yaml"
    assert spec.name == "archinspect"
    assert spec.family == "ConvNet"
    assert spec.notes == ()


def test_fallback_file_gets_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "archinspect.yaml").write_text(CONVNET, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_spec(None, ["model.depth=3"]).args["depth"] == 3


def test_fallback_file_errors_name_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "archinspect.yaml").write_text("model: {}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match=r"^error: archinspect\.yaml is not a valid"):
        load_spec()


def test_embedded_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = load_spec()
    assert spec.notes == (DEFAULT_NOTE,)
    assert spec.source == DEFAULT_SOURCE
    assert spec.name == "default-unet-2d"
    assert spec.family == "ClassicUNet"
    assert spec.args == {
        "num_spatial_dims": 2,
        "in_channels": 1,
        "out_channels": 1,
        "hidden_channels": 16,
        "num_levels": 4,
        "use_norm": True,
        "activation": "relu",
        "boundary_mode": "periodic",
    }
    assert spec.input == InputSpec(resolution=(64, 64))


def test_embedded_default_gets_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = load_spec(None, ["model.hidden_channels=4"])
    assert spec.args["hidden_channels"] == 4
    assert spec.notes == (DEFAULT_NOTE,)


def test_a_directory_named_archinspect_yaml_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "archinspect.yaml").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_spec().source == DEFAULT_SOURCE


def test_embedded_default_note_on_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["count", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert result.stderr == DEFAULT_NOTE + "\n"
    assert DEFAULT_NOTE not in result.stdout


# --- files that cannot be read -----------------------------------------------------------------


def test_file_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArchinspectError, match=r"^error: spec file not found: nope\.yaml$") as exc:
        load_spec("nope.yaml")
    assert not isinstance(exc.value, SpecError)
    assert exc.value.exit_code == 2


def test_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "specs").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ArchinspectError,
        match=r"^error: specs is a directory, not a spec file; a spec is a regular file of at "
        r"most 4 MiB \(4,194,304 bytes\)$",
    ) as exc:
        load_spec("specs")
    assert exc.value.exit_code == 2


def test_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ArchinspectError, match=r"^error: latin1\.yaml is not UTF-8 text \(invalid continuation"
    ) as exc:
        load_spec("latin1.yaml")
    assert exc.value.exit_code == 2


def test_file_not_found_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["count", "missing.yaml"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "error: spec file not found: missing.yaml\n"


# --- spec errors as data -----------------------------------------------------------------------


def test_spec_error_carries_sorted_problems() -> None:
    text = CONVNET + "  kernel_size: 0\ninput:\n  batch_size: 0\n  dtype: f32\n"
    with pytest.raises(SpecError, match=r"^error: x\.yaml is not a valid archinspect spec") as exc:
        load_spec_text(text, "x.yaml")
    assert exc.value.exit_code == 2
    assert exc.value.source == "x.yaml"
    assert exc.value.problems == [
        Problem(
            "model.kernel_size", "must be a positive integer, got 0", Location("x.yaml", 6, 16)
        ),
        Problem("input.batch_size", "must be a positive integer, got 0", Location("x.yaml", 8, 15)),
        Problem(
            "input.dtype",
            "must be one of 'float32', 'float64', 'float16', 'bfloat16', 'int32', 'int16', "
            "'int8', 'uint32', 'uint16', 'uint8', got 'f32'; "
            "did you mean 'float32'?",
            Location("x.yaml", 9, 10),
        ),
    ]


def test_aliases_without_merge_keys_are_allowed() -> None:
    text = CONVNET + "sweep:\n  hidden_channels: &widths [4, 8]\n  kernel_size: *widths\n"
    spec = load_spec_text(text, "a.yaml")
    assert spec.sweep == {"hidden_channels": [4, 8], "kernel_size": [4, 8]}


def test_recursive_alias_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="is not a valid archinspect spec") as exc:
        load_spec_text(CONVNET + "sweep:\n  depth: &d [1, *d]\n", "rec.yaml")
    assert _problem_lines(exc) == [
        "rec.yaml:7:10: sweep.depth[1]: recursive YAML alias (a value that contains itself)"
    ]


def test_alias_bomb_is_refused_quickly() -> None:
    """'Billion laughs': 10 aliases per level, 8 levels would expand to 10**8 values."""
    import time

    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "\n".join(levels) + "\n"
    # CPU time of this process, not wall time: the bound is on the work done (an expansion of
    # 10**8 values takes minutes), and must not fail because other processes load the machine.
    start = time.process_time()
    with pytest.raises(SpecError, match="expands to more than 100,000 values") as exc:
        load_spec_text(text, "bomb.yaml")
    assert time.process_time() - start < 5.0
    bombs = [p for p in exc.value.problems if "expands" in p.message]
    assert len(bombs) == 1  # reported once, not once per alias


# --- SI amounts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (1_000_000, 1_000_000),
        ("1_000_000", 1_000_000),
        ("1.5M", 1_500_000),
        ("20G", 20_000_000_000),
        ("5e9", 5_000_000_000),
        ("1e6", 1_000_000),
        ("512Mi", 536_870_912),
        ("2Ki", 2048),
        ("1.5k", 1500),
        ("3T", 3 * 10**12),
        (" 7 M ", 7_000_000),
        (5e9, 5_000_000_000),
        (1.5e6, 1_500_000),
        (2.0, 2),
        ("12345678901234567890", 12345678901234567890),
    ],
)
def test_parse_amount(value: object, expected: int) -> None:
    result = parse_amount(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [
        "1.2345",
        1.5,
        True,
        False,
        None,
        -1,
        -1.0,
        "-1",
        "1.5X",
        "1.5m",
        "M",
        "",
        "1e-3",
        float("nan"),
        float("inf"),
        [1],
        {"a": 1},
        "0x10",
    ],
)
def test_parse_amount_rejects(value: object) -> None:
    assert parse_amount(value) is None


# --- shipped configs ---------------------------------------------------------------------------


def test_there_are_shipped_configs() -> None:
    assert len(CONFIGS) >= 8


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_loads(path: Path) -> None:
    spec = load_spec(path)
    assert spec.source == str(path)
    assert spec.notes == ()
    assert len(spec.input.resolution) == spec.num_spatial_dims
    text = path.read_text(encoding="utf-8")
    if spec.target is None:
        assert f"family: {spec.family}\n" in text
    else:
        assert f"target: {spec.target}\n" in text
        assert spec.target.endswith("." + spec.family)
    assert f"name: {spec.name}\n" in text


def test_shipped_unet_config_values() -> None:
    spec = load_spec(REPO / "configs" / "unet.yaml")
    assert spec.name == "unet-2d"
    assert spec.family == "ClassicUNet"
    assert spec.args == {
        "num_spatial_dims": 2,
        "in_channels": 1,
        "out_channels": 1,
        "hidden_channels": 16,
        "num_levels": 4,
        "use_norm": True,
        "activation": "relu",
        "boundary_mode": "periodic",
    }
    assert spec.input == InputSpec(resolution=(128, 128), batch_size=1, dtype="float32")


def test_family_input_dtype_other_than_float32_is_refused_at_its_line() -> None:
    text = CONVNET + "input:\n  dtype: bfloat16\n"
    with pytest.raises(SpecError, match="must be 'float32' for the built-in families") as exc:
        load_spec_text(text, "d.yaml")
    assert _problem_lines(exc) == [
        "d.yaml:7:10: input.dtype: must be 'float32' for the built-in families (their "
        "weights are float32 and a convolution needs both in one dtype), got 'bfloat16'; other "
        "dtypes are for `target:` modules built for them"
    ]


def test_target_input_dtype_may_be_float64() -> None:
    text = (
        "model:\n  target: pdequinox.arch.ConvNet\n  num_spatial_dims: 1\n  in_channels: 1\n"
        "  out_channels: 1\ninput:\n  resolution: [16]\n  dtype: float64\n"
    )
    assert load_spec_text(text, "t.yaml").input.dtype == "float64"


def test_yaml_1_1_traps_in_set_values() -> None:
    """`--set` values are read like the file: `yes` is refused with its unambiguous spelling;
    a budget amount keeps its `_` separators there too."""
    runner = CliRunner()
    path = "configs/convnet.yaml"
    bad = runner.invoke(app, ["validate", path, "--set", "model.use_bias=yes"])
    assert bad.exit_code == 2
    assert bad.stderr.splitlines()[1] == (
        "--set model.use_bias=yes: model.use_bias: yes is a boolean only in YAML 1.1 (YAML 1.2 "
        "readers such as editors see the string 'yes'); write true, or 'yes' in quotes for the "
        "string"
    )
    for amount in ("budget.max_params=1_000_000", "budget={max_params: 1_000_000}"):
        ok = runner.invoke(app, ["validate", path, "--set", amount])
        assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "on",
            "on is a boolean only in YAML 1.1 (YAML 1.2 readers such as editors see the "
            "string 'on'); write true, or 'on' in quotes for the string",
        ),
        (
            "Off",
            "Off is a boolean only in YAML 1.1 (YAML 1.2 readers such as editors see the "
            "string 'Off'); write false, or 'Off' in quotes for the string",
        ),
        # 0o17 = 15: YAML 1.1 reads a leading zero as octal, 1.2 as decimal 17
        ("017", "017 is the octal number 15 in YAML 1.1 but 17 in YAML 1.2; write 15"),
        # 1*60 + 5 = 65
        (
            "1:05",
            "1:05 is the base-60 number 65 in YAML 1.1 and a string in YAML 1.2; write 65, "
            "or '1:05' in quotes for the string",
        ),
    ],
)
def test_yaml_1_1_traps_are_located(written: str, message: str) -> None:
    with pytest.raises(SpecError, match="is not a valid archinspect spec") as exc:
        load_spec_text(CONVNET + f"  hidden_channels: {written}\n", "t.yaml")
    assert exc.value.message.splitlines()[1] == (f"t.yaml:6:20: model.hidden_channels: {message}")


def test_quoted_and_yaml_1_2_spellings_are_not_traps() -> None:
    spec = load_spec_text(CONVNET + "  use_bias: true\n  activation: 'tanh'\n", "t.yaml")
    assert spec.args["use_bias"] is True and spec.args["activation"] == "tanh"
