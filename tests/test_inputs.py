"""archinspect.commands.inputs: command-line inputs to use-case inputs, without the CLI."""

from __future__ import annotations

import re

import pytest

from archinspect.commands import inputs
from archinspect.errors import ArchinspectError, SpecError, UsageError

AMOUNT_HELP = "a non-negative number: 1000000, 1_000_000, 1e6, '1.5M', '20G', '512Mi'"


class TestValues:
    def test_numbers_and_lists(self):
        assert inputs.parse_values("4,8,16") == [4, 8, 16]
        assert inputs.parse_values("[32,32],[64,64]") == [[32, 32], [64, 64]]
        assert inputs.parse_values("relu, gelu") == ["relu", "gelu"]
        assert inputs.parse_values("true,false") == [True, False]

    @pytest.mark.parametrize("raw", ["", "[1,", "1]"])
    def test_not_a_list(self, raw):
        with pytest.raises(UsageError, match=r"^error: --values expects a comma-separated list"):
            inputs.parse_values(raw)


class TestAmounts:
    def test_exact_values_keyed_by_limit(self):
        got = inputs.parse_amounts({"max_params": "1.5M", "max_flops": None, "max_memory": "2Ki"})
        assert got == {"max_params": 1_500_000, "max_memory": 2048}

    def test_a_bad_amount_names_its_option(self):
        with pytest.raises(UsageError, match=r"^error: --max-learnable-params must be") as exc:
            inputs.parse_amounts({"max_learnable_params": "1.5X"})
        assert exc.value.message == (
            f"error: --max-learnable-params must be {AMOUNT_HELP}; got '1.5X'"
        )

    def test_per_axis_overrides(self):
        assert inputs.per_axis_overrides(min_rf=3, max_rf=None) == {"receptive_field.min": 3}
        assert inputs.per_axis_overrides(min_rf=None, max_rf=0) == {"receptive_field.max": 0}
        assert inputs.per_axis_overrides(min_rf=None, max_rf=None) == {}

    def test_solve_limits(self):
        assert inputs.solve_limits({"max_params": "10k", "max_flops": None}, 5) == {
            "max_params": 10_000,
            "min_rf": 5,
        }
        with pytest.raises(UsageError, match=r"^error: solve needs a limit") as exc:
            inputs.solve_limits({"max_params": None, "max_flops": None, "max_memory": None}, None)
        assert exc.value.message == (
            "error: solve needs a limit: --max-params, --max-flops, --max-memory or --min-rf"
        )


class TestExpand:
    def test_globs_sorted_and_deduplicated(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        for name in ("b.yaml", "a.yaml", "c.txt"):
            (tmp_path / name).write_text("")
        assert inputs.expand_specs(["*.yaml", "a.yaml", "missing.yaml"]) == [
            "a.yaml",
            "b.yaml",
            "missing.yaml",  # a plain path stays; loading it reports it
        ]

    def test_a_glob_without_matches(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        with pytest.raises(UsageError, match=r"^error: no spec file matches 'nope/\*\.yaml'$"):
            inputs.expand_specs(["nope/*.yaml"])

    def test_an_existing_file_with_glob_characters_is_not_expanded(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "[odd].yaml").write_text("")
        assert inputs.expand_specs(["[odd].yaml"]) == ["[odd].yaml"]


SPEC = """\
name: tiny
model: {family: ConvNet, num_spatial_dims: 1, in_channels: 1, out_channels: 1,
        hidden_channels: 2, depth: 1}
input: {resolution: 8}
"""


class TestLoading:
    def test_loader_applies_given_then_extra_overrides(self, tmp_path):
        path = tmp_path / "tiny.yaml"
        path.write_text(SPEC)
        loader = inputs.spec_loader(str(path), ["model.hidden_channels=3"])
        assert loader([]).args["hidden_channels"] == 3
        assert loader(["model.hidden_channels=5"]).args["hidden_channels"] == 5

    def test_loader_falls_back_to_the_embedded_default_with_its_note(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        spec = inputs.spec_loader(None, None)([])
        assert spec.source == "<embedded default spec>"
        assert spec.notes == (
            "note: no spec given and no ./archinspect.yaml; using the embedded default "
            "(2-D ClassicUNet at 64x64)",
        )

    def test_load_each_keeps_errors(self, tmp_path):
        good = tmp_path / "tiny.yaml"
        good.write_text(SPEC)
        bad = tmp_path / "bad.yaml"
        bad.write_text(SPEC.replace("depth: 1", "depth: -1"))
        loaded = inputs.load_each([str(good), str(bad), "missing.yaml"], None)
        assert [p for p, _ in loaded] == [str(good), str(bad), "missing.yaml"]
        assert loaded[0][1].name == "tiny"  # type: ignore[union-attr]
        assert isinstance(loaded[1][1], SpecError)
        assert [p.path for p in loaded[1][1].problems] == ["model.depth"]
        assert isinstance(loaded[2][1], ArchinspectError)
        assert loaded[2][1].message == "error: spec file not found: missing.yaml"


class TestSweepOptions:
    @pytest.mark.parametrize(
        ("params", "values", "plot", "message"),
        [
            (
                [],
                None,
                None,
                "error: sweep needs at least one --param, e.g. --param hidden_channels",
            ),
            (["depth"], ["1", "2"], None, "error: more --values than --param options"),
            (["depth"], None, "a.pdf", "error: --plot writes .png or .svg files, got 'a.pdf'"),
        ],
    )
    def test_refused(self, params, values, plot, message):
        with pytest.raises(UsageError, match=f"^{re.escape(message)}$") as exc:
            inputs.check_sweep_options(params, values, plot)
        assert exc.value.message == message

    def test_a_grid_may_be_plotted(self):
        """Two parameters are small multiples, three are refused after the table
        (tests/test_sweep.py TestPlot): neither is refused before the sweep."""
        assert inputs.check_sweep_options(["depth", "kernel_size"], None, "a.png") is None
        assert inputs.check_sweep_options(["depth", "kernel_size", "x"], None, "a.png") is None

    def test_metrics(self):
        every_row = ("params", "learnable_params", "receptive_field", "output_shape")
        assert inputs.sweep_metrics(None) == every_row
        assert inputs.sweep_metrics(" memory, flops ") == (*every_row, "memory", "flops")
        with pytest.raises(
            UsageError,
            match=r"^error: --metrics takes flops, memory, init_std, init_verdict; got 'rf'$",
        ):
            inputs.sweep_metrics("rf")

    def test_plan(self, tmp_path):
        path = tmp_path / "tiny.yaml"
        path.write_text(SPEC + "sweep: {depth: [1, 2, 3]}\n")
        base = inputs.spec_loader(str(path), None)([])
        plan = inputs.plan_sweep(base, ["depth", "hidden_channels"], None, ("params",))
        assert plan.values == [[1, 2, 3], [4, 8, 16, 32, 64, 128]]  # the spec's, the default
        assert plan.total == 18
        plan = inputs.plan_sweep(base, ["depth"], ["4,5"], ("params",))
        assert (plan.values, plan.total, plan.metrics) == ([[4, 5]], 2, ("params",))


def test_the_schema_amount_pattern_is_the_parser_syntax():
    import re

    from archinspect.spec.numbers import AMOUNT_PATTERN, parse_amount
    from archinspect.spec.schema import build_schema

    amount = build_schema()["properties"]["budget"]["properties"]["max_params"]
    assert {"type": "string", "pattern": AMOUNT_PATTERN} in amount["oneOf"]
    for text, value in [("1.5M", 1_500_000), ("2e6", 2_000_000), (" 3 k ", 3000)]:
        assert re.match(AMOUNT_PATTERN, text) and parse_amount(text) == value
    assert parse_amount("512Mi") == 512 * 2**20
    for text in ("1X", "1e", "-5", "k", "1.5 MB"):
        assert not re.match(AMOUNT_PATTERN, text) and parse_amount(text) is None
