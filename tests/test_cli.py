"""Every command and format through Typer's CliRunner, with golden files for rendered tables."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archinspect import __version__
from archinspect.cli import app

runner = CliRunner()

# 2-D ClassicUNet, hidden 16, 4 levels, norms on (configs/unet.yaml), by hand:
# conv(ci, co) = co*ci*9 + co ; norm(c) = 2c ; double(ci, co) = conv(ci,co)+conv(co,co)+4co
#   lifting double(1,16)                = 160 + 2320 + 64          =     2,544
#   down convs c->c, c = 16,32,64,128   = 2320+9248+36928+147584   =   196,080
#   left double(16,32),(32,64),(64,128),(128,256)
#                                       = 14016+55680+221952+886272 = 1,177,920
#   up convs 2c->c, c = 16..128         = 4624+18464+73792+295040  =   391,920
#   right double(2c, c), c = 16..128    = 7008+27840+110976+443136 =   588,960
#   projection conv 1x1 16->1           = 16 + 1                   =        17
UNET_2D_TOTAL = 2544 + 196080 + 1177920 + 391920 + 588960 + 17


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_unet_hand_total_matches_sum():
    assert UNET_2D_TOTAL == 2_357_441


@pytest.mark.usefixtures("repo_root")
class TestCount:
    def test_table_golden(self, golden):
        result = invoke("count", "configs/unet.yaml")
        assert result.exit_code == 0, result.output
        assert "2,357,441" in result.stdout
        golden("count_unet.table.txt", result.stdout)

    def test_markdown_golden(self, golden):
        result = invoke("count", "configs/unet.yaml", "--format", "markdown")
        assert result.exit_code == 0, result.output
        golden("count_unet.md", result.stdout)

    def test_fno_table_golden_says_complex_counts_twice(self, golden):
        result = invoke("count", "configs/fno.yaml", "--depth", "3")
        assert result.exit_code == 0, result.output
        assert "complex64: 98,304 (49,152 complex elements x 2), 393,216 bytes" in result.stdout
        assert "note: 49,152 complex weights count as two real parameters each" in result.stdout
        golden("count_fno.table.txt", result.stdout)

    def test_receptive_field_by_default_and_without_it(self):
        """configs/convnet.yaml, depth 10: 11 convolutions of kernel 3 (64 + 9 x 784 + 49
        parameters), the i-th reaching i + 1 cells each way. `--rf` is the default made
        explicit; `--no-rf` gives the same counts with no field at the top or in any row."""

        def run(*options: str) -> dict:
            result = invoke("count", "configs/convnet.yaml", "-f", "json", *options)
            assert result.exit_code == 0, result.output
            return json.loads(result.stdout)

        default, asked, plain = run(), run("--rf"), run("--no-rf")
        assert default == asked
        assert default["receptive_field"]["per_axis"] == [[11, 11]]
        assert default["receptive_field"]["global"] is False
        convs = [r for r in default["layers"] if r["type"] == "Conv"]
        assert [r["receptive_field"] for r in convs] == [[[i + 1, i + 1]] for i in range(11)]
        assert default["params"] == plain["params"]
        assert plain["params"]["total"] == 64 + 9 * 784 + 49 == 7_169
        assert "receptive_field" not in plain
        assert all("receptive_field" not in row for row in plain["layers"])
        assert [r["path"] for r in plain["layers"]] == [r["path"] for r in default["layers"]]

    def test_json_keys_and_values(self):
        result = invoke("count", "configs/unet.yaml", "--format", "json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["name"] == "unet-2d"
        assert data["spec"] == "configs/unet.yaml"
        assert data["family"] == "ClassicUNet"
        assert data["input_shape"] == [1, 128, 128]
        assert data["params"]["total"] == UNET_2D_TOTAL
        assert data["params"]["learnable"] == UNET_2D_TOTAL
        assert data["params"]["materialized"] == UNET_2D_TOTAL
        assert data["params"]["bytes"] == 4 * UNET_2D_TOTAL
        assert data["params"]["by_dtype"] == {"float32": UNET_2D_TOTAL}
        top = {row["path"]: row["params"] for row in data["layers"] if row["depth"] == 1}
        assert top == {
            "lifting": 2544,
            "down_sampling_blocks": 196080,
            "left_arc_blocks": 1177920,
            "up_sampling_blocks": 391920,
            "right_arc_blocks": 588960,
            "projection": 17,
        }
        assert sum(top.values()) == data["params"]["total"]

    def test_json_fno_by_dtype(self):
        result = invoke("count", "configs/fno.yaml", "-f", "json")
        data = json.loads(result.stdout)
        # 4 spectral convs of 32*32*12 complex weights = 49,152 elements = 98,304 real params;
        # lifting 64 + 4 bypasses of 1,056 + projection 33 = 4,321 real float32 params.
        assert data["params"]["by_dtype"] == {"complex64": 98304, "float32": 4321}
        assert data["params"]["elements_by_dtype"] == {"complex64": 49152, "float32": 4321}
        assert data["params"]["total"] == 102625
        assert data["params"]["bytes"] == 49152 * 8 + 4321 * 4
        assert data["params"]["bytes_by_dtype"] == {"complex64": 49152 * 8, "float32": 4321 * 4}

    def test_csv(self):
        result = invoke("count", "configs/convnet.yaml", "--format", "csv", "--depth", "1")
        assert result.exit_code == 0, result.output
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert [r["path"] for r in rows] == ["layers"]
        assert rows[0]["params"] == "7169"
        assert rows[0]["folded"] == "11"

    def test_depth_folding_keeps_parent_totals(self):
        shallow = json.loads(invoke("count", "configs/unet.yaml", "-f", "json", "-d", "1").stdout)
        deep = json.loads(invoke("count", "configs/unet.yaml", "-f", "json", "-d", "9").stdout)
        deep_top = {r["path"]: r["params"] for r in deep["layers"] if r["depth"] == 1}
        assert {r["path"]: r["params"] for r in shallow["layers"]} == deep_top
        assert all(r["folded"] == 0 for r in deep["layers"])
        assert max(r["depth"] for r in deep["layers"]) == 4  # left_arc_blocks[0][0].conv_1

    def test_set_override(self):
        result = invoke(
            "count", "configs/convnet.yaml", "--set", "model.hidden_channels=32", "-f", "json"
        )
        assert json.loads(result.stdout)["params"]["total"] == 28161

    def test_output_file_written_atomically(self, tmp_path):
        target = tmp_path / "report.json"
        result = invoke("count", "configs/mlp.yaml", "-f", "json", "-o", str(target))
        assert result.exit_code == 0, result.output
        assert result.stdout == ""
        assert result.stderr == f"wrote {target}\n"
        assert json.loads(target.read_text())["params"]["total"] == 14576
        assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left

    def test_output_into_missing_directory_is_exit_2(self, tmp_path):
        target = tmp_path / "missing" / "r.json"
        result = invoke("count", "configs/mlp.yaml", "-o", str(target))
        assert result.exit_code == 2
        assert result.stderr == (
            f"error: cannot write --output {target}: directory {target.parent} does not exist\n"
        )

    def test_every_shipped_config_counts(self):
        import glob

        for path in sorted(glob.glob("configs/*.yaml")):
            result = invoke("count", path, "-f", "json")
            assert result.exit_code == 0, (path, result.output)
            assert json.loads(result.stdout)["params"]["total"] > 0

    def test_bad_format_is_usage_error(self):
        result = invoke("count", "configs/unet.yaml", "--format", "xml")
        assert result.exit_code == 2
        assert "Invalid value for '--format'" in result.stderr


def test_no_spec_uses_embedded_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("count", "-f", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "note: no spec given and no ./archinspect.yaml; using the embedded default "
        "(2-D ClassicUNet at 64x64)\n"
    )
    data = json.loads(result.stdout)
    assert data["spec"] == "<embedded default spec>"
    assert data["input_shape"] == [1, 64, 64]
    assert data["params"]["total"] == UNET_2D_TOTAL  # same network, other resolution


DEFAULT_NOTE = (
    "note: no spec given and no ./archinspect.yaml; using the embedded default "
    "(2-D ClassicUNet at 64x64)\n"
)


@pytest.mark.parametrize(
    "args",
    [
        ["count"],
        ["rf"],
        ["shapes"],
        # a one-level, two-channel UNet keeps the compiled programs small
        ["inspect", "--set", "model.num_levels=1", "--set", "model.hidden_channels=2"],
        pytest.param(
            ["sweep", "--param", "hidden_channels", "--values", "2"], marks=pytest.mark.slow
        ),
        pytest.param(["solve", "--max-params", "10k"], marks=pytest.mark.slow),
    ],
    ids=lambda args: args[0],
)
def test_every_command_says_when_it_uses_the_embedded_default(tmp_path, monkeypatch, args):
    """README "Spec files": with no spec and no ./archinspect.yaml every command says on
    stderr that it uses the embedded default, once, and reports on that spec."""
    monkeypatch.chdir(tmp_path)
    result = invoke(*args, "-f", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr == DEFAULT_NOTE
    data = json.loads(result.stdout)
    assert data["spec"] == "<embedded default spec>"
    assert data["name"] == "default-unet-2d"


@pytest.mark.slow  # 14 s: solve's searches are covered in tests/test_solve.py
def test_solve_with_the_embedded_default_answers_for_it(tmp_path, monkeypatch):
    """The hand count at hidden_channels=16 (UNET_2D_TOTAL) lies between the answers for a
    limit one below it (15) and at it (16)."""
    monkeypatch.chdir(tmp_path)
    at = json.loads(invoke("solve", "--max-params", str(UNET_2D_TOTAL), "-f", "json").stdout)
    assert (at["value"], at["metric"], at["next_value"]) == (16, {"params": UNET_2D_TOTAL}, 17)
    below = json.loads(invoke("solve", "--max-params", str(UNET_2D_TOTAL - 1), "-f", "json").stdout)
    assert (below["value"], below["next_value"], below["next_metric"]) == (
        15,
        16,
        {"params": UNET_2D_TOTAL},
    )


def test_a_given_spec_has_no_note(repo_root):
    result = invoke("solve", "configs/convnet.yaml", "--max-params", "10k", "-f", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_no_spec_uses_archinspect_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "archinspect.yaml").write_text(
        "model: {family: MLP, num_spatial_dims: 1, in_channels: 1, out_channels: 1, "
        "num_points: 48}\n"
    )
    result = invoke("count", "-f", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert json.loads(result.stdout)["params"]["total"] == 14576


class TestFamilies:
    def test_list_table(self):
        result = invoke("families")
        assert result.exit_code == 0
        for name in (
            "ConvNet",
            "ClassicResNet",
            "ModernResNet",
            "ClassicUNet",
            "ModernUNet",
            "ClassicFNO",
            "DilatedResNet",
            "MLP",
        ):
            assert name in result.stdout

    def test_one_family_table_golden(self, golden):
        result = invoke("families", "ModernUNet")
        assert result.exit_code == 0
        golden("families_modern_unet.table.txt", result.stdout)

    def test_json_defaults_follow_pdequinox(self):
        data = json.loads(invoke("families", "--format", "json").stdout)
        defaults = {
            f["name"]: {a["name"]: a["default"] for a in f["arguments"]} for f in data["families"]
        }
        assert defaults["ConvNet"]["hidden_channels"] == 16
        assert defaults["ConvNet"]["depth"] == 10
        assert defaults["ClassicResNet"]["use_norm"] is False
        assert defaults["ModernResNet"]["use_norm"] is True
        assert defaults["ModernUNet"]["channel_multipliers"] is None
        assert defaults["ClassicFNO"]["activation"] == "gelu"
        assert defaults["DilatedResNet"]["dilation_rates"] == [1, 2, 4, 8, 4, 2, 1]
        required = {
            a["name"]
            for f in data["families"]
            if f["name"] == "MLP"
            for a in f["arguments"]
            if a["required"]
        }
        assert required == {"num_spatial_dims", "in_channels", "out_channels", "num_points"}

    def test_csv_and_markdown(self):
        rows = list(csv.DictReader(io.StringIO(invoke("families", "MLP", "-f", "csv").stdout)))
        assert [r["argument"] for r in rows][:4] == [
            "num_spatial_dims",
            "in_channels",
            "out_channels",
            "num_points",
        ]
        md = invoke("families", "ClassicFNO", "-f", "markdown").stdout
        assert "| num_modes | int | 12 | Fourier modes kept per axis |" in md

    def test_unknown_family(self):
        result = invoke("families", "UNet")
        assert result.exit_code == 2
        assert result.stderr.startswith("error: unknown family 'UNet'; did you mean ")


class TestSchema:
    def test_schema_validates_shipped_configs_and_rejects_bad(self, repo_root):
        import glob

        import jsonschema
        import yaml

        result = invoke("schema")
        assert result.exit_code == 0
        schema = json.loads(result.stdout)
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        for path in sorted(glob.glob("configs/*.yaml")):
            with open(path) as handle:
                errors = list(validator.iter_errors(yaml.safe_load(handle)))
            assert errors == [], path
        bad = {
            "model": {
                "family": "ConvNet",
                "num_spatial_dims": 2,
                "in_channels": 1,
                "out_channels": 1,
                "hiden_channels": 3,
            }
        }
        assert not validator.is_valid(bad)
        wrong_type = {
            "model": {
                "family": "ConvNet",
                "num_spatial_dims": 4,
                "in_channels": 1,
                "out_channels": 1,
            }
        }
        assert not validator.is_valid(wrong_type)
        no_points = {
            "model": {"family": "MLP", "num_spatial_dims": 1, "in_channels": 1, "out_channels": 1}
        }
        assert not validator.is_valid(no_points)

    def test_schema_accepts_what_validate_accepts(self, repo_root):
        """Every spec under tests/specs/ and every YAML example of the README that `validate`
        accepts is valid against the schema, and so are integer, float and string amounts
        (integers matched two `oneOf` branches and were rejected)."""
        import re

        import jsonschema
        import yaml

        from archinspect.errors import ArchinspectError
        from archinspect.spec import load_spec_text

        validator = jsonschema.Draft202012Validator(json.loads(invoke("schema").stdout))
        texts = {str(p): p.read_text() for p in sorted(Path("tests/specs").rglob("*.yaml"))}
        readme = Path("README.md").read_text()
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", readme, re.S)):
            texts[f"README.md yaml block {i}"] = block
        accepted = 0
        for where, text in texts.items():
            try:
                load_spec_text(text, where)
            except ArchinspectError:
                continue
            accepted += 1
            assert list(validator.iter_errors(yaml.safe_load(text))) == [], where
        assert accepted >= 5  # tests/specs/check/*.yaml and the README's whole specs
        amounts = {
            "model": {
                "family": "ConvNet",
                "num_spatial_dims": 1,
                "in_channels": 1,
                "out_channels": 1,
            },
            "budget": {
                "max_params": 1_000_000,
                "max_flops": 5e9,
                "max_memory": "2.5G",
                "max_param_bytes": "512Mi",
            },
        }
        load_spec_text(yaml.safe_dump(amounts), "amounts.yaml")  # validate accepts them
        assert list(validator.iter_errors(amounts)) == []
        assert not validator.is_valid({**amounts, "budget": {"max_params": 1.5}})
        assert not validator.is_valid({**amounts, "budget": {"max_params": -1}})

    def test_schema_to_file(self, tmp_path):
        target = tmp_path / "schema.json"
        result = invoke("schema", "--output", str(target))
        assert result.exit_code == 0
        assert json.loads(target.read_text())["title"] == "archinspect spec"


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"archinspect {__version__}\n"


@pytest.mark.usefixtures("repo_root")
def test_validate_command():
    ok = invoke("validate", "configs/unet.yaml", "configs/fno.yaml")
    assert ok.exit_code == 0
    assert ok.stdout == "ok: configs/unet.yaml\nok: configs/fno.yaml\n"
    bad = invoke("validate", "configs/unet.yaml", "missing.yaml")
    assert bad.exit_code == 2
    assert bad.stderr == "error: spec file not found: missing.yaml\n"


def test_no_command_shows_help():
    result = invoke()
    assert "count" in result.output and "families" in result.output


@pytest.mark.usefixtures("repo_root")
def test_exact_beyond_float_precision():
    """8e16 parameters: beyond float64's exact integers (2**53 ~ 9.0e15), still exact."""
    result = invoke(
        "count",
        "configs/fno.yaml",
        "--set",
        "model.num_modes=1000000",
        "--set",
        "model.hidden_channels=100000",
        # the real FFT keeps n // 2 + 1 frequencies: 1,000,000 modes need n >= 1,999,998
        "--set",
        "input.resolution=1999998",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    h, m = 100_000, 1_000_000
    # lifting 1->h with bias; 4 blocks of complex h*h*m (x2) + 1x1 h->h with bias; h->1 + bias
    expected = (h + h) + 4 * (2 * h * h * m + h * h + h) + (h + 1)
    assert expected == 80_000_040_000_700_001
    assert json.loads(result.stdout)["params"]["total"] == expected
