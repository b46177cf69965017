"""`archinspect check`: budgets, exit codes and every output format, through Typer's CliRunner.

Parameter counts are derived by hand below. FLOPs and memory are XLA's estimates, so those
tests first read the actual value (with a huge limit) and then put the limit exactly on it and
one below it. The spec files in tests/specs/check/ have their budget lines counted by hand
(OVER_LINES, WITHIN_LINES, BAD_LINES): the GitHub annotations and JUnit files must point there.

1-D conv with ci input channels, co output channels and kernel k: co*ci*k weights + co biases.
A ConvNet of depth D is a lifting conv 1->h, D-1 hidden convs h->h and a projection h->1.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
import yaml
from typer.testing import CliRunner

from archinspect.cli import app

runner = CliRunner()
CHECK = "tests/specs/check"
AMOUNT_HELP = "a non-negative number: 1000000, 1_000_000, 1e6, '1.5M', '20G', '512Mi'"
NO_BUDGET = (
    "no budget, so nothing was checked (add a `budget:` block to the spec, or limits on the "
    "command line; --require-budget makes this a failure)"
)
NEEDS_BUDGET = (
    "no budget, and --require-budget needs one (add a `budget:` block to the spec, or limits "
    "on the command line)"
)


def conv1d(ci: int, co: int, k: int) -> int:
    return co * ci * k + co


# hidden 2, depth 10, kernel 3 (tests/specs/check/*.yaml): 8 + 9*14 + 7 = 141 (564 bytes)
H2 = conv1d(1, 2, 3) + 9 * conv1d(2, 2, 3) + conv1d(2, 1, 3)
# hidden 2, depth 1 (the TINY spec below): 8 + 7 = 15 (60 bytes)
TINY_PARAMS = conv1d(1, 2, 3) + conv1d(2, 1, 3)
# configs/convnet.yaml (hidden 16, depth 10): 64 + 9*784 + 49 = 7,169 (README "Families")
H16 = conv1d(1, 16, 3) + 9 * conv1d(16, 16, 3) + conv1d(16, 1, 3)


def test_hand_counts():
    assert (H2, TINY_PARAMS, H16) == (141, 15, 7169)


def check(*args: str):
    return runner.invoke(app, ["check", *args])


def payload(result) -> dict:
    return json.loads(result.stdout)


def table_rows(stdout: str) -> list[tuple[str, ...]]:
    """The body rows of the Rich table, cell texts stripped."""
    return [
        tuple(cell.strip() for cell in line.split("│")[1:-1])
        for line in stdout.splitlines()
        if line.startswith("│")
    ]


def after_table(stdout: str) -> list[str]:
    """The lines below the table: one per exceeded budget, then the summary."""
    lines = stdout.splitlines()
    end = max((i for i, line in enumerate(lines) if line.startswith("└")), default=-1)
    return lines[end + 1 :]


# A tiny 1-D ConvNet, 15 parameters; its `budget:` entries start on line 12.
TINY = """\
name: {name}
model:
  family: ConvNet
  num_spatial_dims: 1
  in_channels: 1
  out_channels: 1
  hidden_channels: 2
  depth: 1
input:
  resolution: 8
{budget}"""


def tiny(path: Path, budget: dict | str | None = None, name: str | None = None) -> str:
    """Write the TINY spec with `budget:` entries (one per line from line 12); return its path."""
    if budget is None:
        text = ""
    elif isinstance(budget, str):
        text = budget
    else:
        text = "budget:\n" + "".join(f"  {k}: {v}\n" for k, v in budget.items())
    path.write_text(TINY.format(name=name or path.stem, budget=text), encoding="utf-8")
    return relative(path)


def relative(path: Path) -> str:
    """The path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory so spec paths in reports are short and relative."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def amount_result(spec, budget, limit, actual, headroom, line, cli=False, name=None) -> dict:
    words = {
        "max_params": "parameters",
        "max_learnable_params": "learnable parameters",
        "max_param_bytes": "parameter bytes",
        "max_flops": "forward FLOPs (XLA's estimate, whole batch)",
        "max_memory": "training-step memory (XLA, peak bytes)",
    }[budget]
    ok = actual <= limit
    message = (
        f"{words} {actual:,} within {budget} {limit:,}"
        if ok
        else f"{words} {actual:,} exceed {budget} {limit:,} by {actual - limit:,}"
    ) + (" (limit set on the command line)" if cli else "")
    return {
        "spec": spec,
        "name": name or Path(spec).stem,
        "budget": budget,
        "limit": limit,
        "actual": actual,
        "ok": ok,
        "headroom_percent": headroom,
        "line": line,
        "from_command_line": cli,
        "message": message,
    }


# ---------------------------------------------------------------------------------------------
# Count budgets: within, exactly at (passes) and over the limit, from the file.
# ---------------------------------------------------------------------------------------------

# (budget, actual for TINY): 15 parameters, all learnable, float32 -> 60 bytes
COUNT_ACTUALS = [
    ("max_params", TINY_PARAMS),
    ("max_learnable_params", TINY_PARAMS),
    ("max_param_bytes", 4 * TINY_PARAMS),
]


@pytest.mark.parametrize(("budget", "actual"), COUNT_ACTUALS)
@pytest.mark.parametrize(
    ("case", "factor", "delta", "exit_code", "headroom"),
    [
        ("within", 10, 0, 0, 90.0),  # limit 10x actual
        ("at", 1, 0, 0, 0.0),
        ("over", 1, -1, 1, None),  # limit actual - 1; headroom below
    ],
)
def test_count_budget_from_file(in_tmp, budget, actual, case, factor, delta, exit_code, headroom):
    limit = actual * factor + delta
    spec = tiny(in_tmp / f"{case}.yaml", {budget: limit})
    result = check(spec, "--format", "json")
    assert result.exit_code == exit_code, result.output
    assert result.stderr == ""
    if headroom is None:  # -1/14 -> -7.143 %, -1/59 -> -1.695 %
        headroom = {14: -7.143, 59: -1.695}[limit]
    assert payload(result) == {
        "results": [amount_result(spec, budget, limit, actual, headroom, 12)],
        "errors": [],
        "unbudgeted": [],
        "ok": exit_code == 0,
    }


class Indexed(eqx.Module):
    """A 3-conv plus an int8 index array: state, not trained. Loaded as
    `tests.test_check:Indexed` (needs --trust tests). 2 -> 3 channels in 1-D:
    conv 3*2*3 + 3 = 21 learnable float32 parameters; 5 int8 elements not learnable;
    26 parameters in all, 21*4 + 5*1 = 89 bytes."""

    conv: eqx.nn.Conv
    index: jax.Array

    def __init__(self, num_spatial_dims: int, in_channels: int, out_channels: int, *, key):
        self.conv = eqx.nn.Conv(num_spatial_dims, in_channels, out_channels, 3, padding=1, key=key)
        self.index = jnp.arange(5, dtype=jnp.int8)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.conv(x)


INDEXED_TOTAL = conv1d(2, 3, 3) + 5  # 26
INDEXED_LEARNABLE = conv1d(2, 3, 3)  # 21
INDEXED_BYTES = 4 * conv1d(2, 3, 3) + 5  # 89

INDEXED = """\
model:
  target: tests.test_check:Indexed
  num_spatial_dims: 1
  in_channels: 2
  out_channels: 3
budget:
  max_params: {}
  max_learnable_params: {}
  max_param_bytes: {}
"""


def test_params_learnable_and_bytes_are_three_metrics(in_tmp):
    """Each limit exactly at its own metric passes, and one below fails: a budget that read
    another metric (total for learnable, params for bytes) could not pass both runs."""
    assert (INDEXED_TOTAL, INDEXED_LEARNABLE, INDEXED_BYTES) == (26, 21, 89)
    (in_tmp / "at.yaml").write_text(INDEXED.format(26, 21, 89), encoding="utf-8")
    (in_tmp / "over.yaml").write_text(INDEXED.format(25, 20, 88), encoding="utf-8")
    at = check("at.yaml", "--trust", "tests", "--format", "json")
    assert at.exit_code == 0, at.output
    assert [(r["budget"], r["limit"], r["actual"], r["ok"]) for r in payload(at)["results"]] == [
        ("max_params", 26, 26, True),
        ("max_learnable_params", 21, 21, True),
        ("max_param_bytes", 89, 89, True),
    ]
    over = check("over.yaml", "--trust", "tests", "--format", "json")
    assert over.exit_code == 1, over.output
    assert [(r["budget"], r["limit"], r["actual"], r["ok"]) for r in payload(over)["results"]] == [
        ("max_params", 25, 26, False),
        ("max_learnable_params", 20, 21, False),
        ("max_param_bytes", 88, 89, False),
    ]
    # without --trust the target is refused: a spec error, nothing imported, exit 2
    refused = check("at.yaml", "--format", "json")
    assert refused.exit_code == 2
    data = payload(refused)
    assert data["results"] == [] and data["ok"] is False
    assert data["errors"] == [
        {
            "spec": "at.yaml",
            "message": "error: at.yaml: model.target 'tests.test_check:Indexed' is not trusted: "
            "importing it would run code from package 'tests', which is not in the trust list "
            "(archinspect, equinox, pdequinox). If you trust it, pass --trust tests on the "
            "command line (the spec file cannot extend the trust list).",
        }
    ]


# ---------------------------------------------------------------------------------------------
# FLOPs and memory: XLA's numbers, read first, then limits exactly at them and one below.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def costs(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, int]:
    """(forward FLOPs, training-step peak bytes) of TINY, read with huge CLI limits."""
    spec = tiny(tmp_path_factory.mktemp("costs") / "tiny.yaml")
    result = check(spec, "--max-flops", "1e15", "--max-memory", "1P", "--format", "json")
    assert result.exit_code == 0, result.output
    flops, memory = payload(result)["results"]
    assert (flops["budget"], flops["limit"]) == ("max_flops", 10**15)
    assert (memory["budget"], memory["limit"]) == ("max_memory", 10**15)
    assert isinstance(flops["actual"], int) and flops["actual"] > 0
    assert isinstance(memory["actual"], int) and memory["actual"] > 0
    return flops["actual"], memory["actual"]


def test_costs_are_inspects_forward_flops_and_train_step_peak(in_tmp, costs):
    spec = tiny(in_tmp / "tiny.yaml")
    result = runner.invoke(app, ["inspect", spec, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = payload(result)
    train = data["memory"]["train_step"]
    assert costs == (data["flops"]["forward"], train["peak_bytes"])
    assert train["peak_bytes"] == (
        train["argument_bytes"] + train["output_bytes"] + train["temp_bytes"] - train["alias_bytes"]
    )


def test_flops_limit_is_for_the_whole_batch(in_tmp, costs):
    flops, _ = costs
    spec = tiny(in_tmp / "batch3.yaml")
    result = check(spec, "--set", "input.batch_size=3", "--max-flops", str(3 * flops), "-f", "json")
    assert result.exit_code == 0, result.output
    [r] = payload(result)["results"]
    assert (r["budget"], r["limit"], r["actual"], r["ok"]) == (
        "max_flops",
        3 * flops,
        3 * flops,
        True,
    )


def test_cost_budgets_within_and_at_the_limit_pass(in_tmp, costs):
    flops, memory = costs
    at = tiny(in_tmp / "at.yaml", {"max_flops": flops, "max_memory": memory})
    within = tiny(in_tmp / "within.yaml", {"max_flops": 4 * flops, "max_memory": 4 * memory})
    result = check(at, within, "--format", "json")
    assert result.exit_code == 0, result.output
    assert payload(result)["results"] == [
        amount_result(at, "max_flops", flops, flops, 0.0, 12),
        amount_result(at, "max_memory", memory, memory, 0.0, 13),
        amount_result(within, "max_flops", 4 * flops, flops, 75.0, 12),
        amount_result(within, "max_memory", 4 * memory, memory, 75.0, 13),
    ]


def test_cost_budgets_one_below_the_actual_fail(in_tmp, costs):
    flops, memory = costs
    over = tiny(in_tmp / "over.yaml", {"max_flops": flops - 1, "max_memory": memory - 1})
    result = check(over, "--format", "json")
    assert result.exit_code == 1, result.output
    assert payload(result)["results"] == [
        amount_result(over, "max_flops", flops - 1, flops, round(-1 / (flops - 1) * 100, 3), 12),
        amount_result(
            over, "max_memory", memory - 1, memory, round(-1 / (memory - 1) * 100, 3), 13
        ),
    ]


@pytest.mark.parametrize("exceeded", ["max_flops", "max_memory"])
def test_cost_budgets_from_the_command_line(in_tmp, costs, exceeded):
    flops, memory = costs
    limits = {"max_flops": flops, "max_memory": memory}
    limits[exceeded] -= 1
    spec = tiny(in_tmp / "tiny.yaml")  # no budget in the file: the limits are CLI-only
    result = check(
        spec,
        "--max-flops",
        str(limits["max_flops"]),
        "--max-memory",
        str(limits["max_memory"]),
        "--format",
        "json",
    )
    assert result.exit_code == 1, result.output
    results = payload(result)["results"]
    assert [(r["budget"], r["limit"], r["ok"], r["line"]) for r in results] == [
        ("max_flops", limits["max_flops"], exceeded != "max_flops", None),
        ("max_memory", limits["max_memory"], exceeded != "max_memory", None),
    ]
    assert [r["from_command_line"] for r in results] == [True, True]
    assert [r["actual"] for r in results] == [flops, memory]


# ---------------------------------------------------------------------------------------------
# Amounts: SI suffixes and scientific notation, in the file and on the command line.
# ---------------------------------------------------------------------------------------------

AMOUNTS = [
    ('"1.5M"', "1.5M", 1_500_000),
    ("20G", "20G", 20_000_000_000),
    ('"7169"', "7169", 7169),
    ("1e4", "1e4", 10_000),  # a string to YAML 1.1 (no dot)
    ("1.5e+3", "1.5e+3", 1500),  # a float to YAML 1.1
    ("64Ki", "64Ki", 65_536),
    ("0.5Ki", "0.5Ki", 512),
    ("1Mi", "1Mi", 1_048_576),
    ("1.25k", "1.25k", 1250),
    ("10K", "10K", 10_000),
    ("3T", "3T", 3_000_000_000_000),
    ("2P", "2P", 2 * 10**15),
    ("1_000_000", "1_000_000", 1_000_000),
    ("2.5G", "2.5G", 2_500_000_000),
    ("12345678901234567890", "12345678901234567890", 12_345_678_901_234_567_890),
    ("0x100", "256", 256),  # YAML int; on the command line the decimal form
]


@pytest.mark.parametrize(("in_file", "on_cli", "value"), AMOUNTS, ids=[a[1] for a in AMOUNTS])
def test_amounts_in_the_file_and_on_the_command_line(in_tmp, in_file, on_cli, value):
    spec = tiny(in_tmp / "amount.yaml", {"max_params": in_file})
    from_file = check(spec, "--format", "json")
    assert from_file.exit_code == 0, from_file.output
    [r] = payload(from_file)["results"]
    assert (r["limit"], r["actual"], r["ok"], r["from_command_line"]) == (value, 15, True, False)

    bare = tiny(in_tmp / "bare.yaml")
    from_cli = check(bare, "--max-params", on_cli, "--format", "json")
    assert from_cli.exit_code == 0, from_cli.output
    [r] = payload(from_cli)["results"]
    assert (r["limit"], r["actual"], r["ok"], r["from_command_line"]) == (value, 15, True, True)


def test_configs_convnet_at_7169_passes_and_7168_fails(repo_root):
    at = check("configs/convnet.yaml", "--max-params", "7169", "-f", "json")
    assert at.exit_code == 0, at.output
    assert payload(at)["results"] == [
        amount_result(
            "configs/convnet.yaml", "max_params", 7169, H16, 0.0, 16, cli=True, name="convnet-1d"
        )
    ]
    over = check("configs/convnet.yaml", "--max-params", "7168", "-f", "json")
    assert over.exit_code == 1, over.output
    assert [(r["limit"], r["actual"], r["ok"]) for r in payload(over)["results"]] == [
        (7168, H16, False)
    ]


# (value as written in the file, as the message quotes it)
BAD_AMOUNTS = [
    ("1.5X", "'1.5X'"),
    ("-5", "-5"),
    ("1.0005k", "'1.0005k'"),  # 1000.5 is no whole number
    ("1e-3", "'1e-3'"),
    ("1.5m", "'1.5m'"),  # no milli
    ("12 GB", "'12 GB'"),
    ("'yes'", "'yes'"),  # quoted: the string, no amount (plain `yes` is a YAML 1.1 trap)
    ("true", "true"),
    ('"inf"', "'inf'"),
    ("[1000]", "[1000]"),
    (".5k", "'.5k'"),
]


@pytest.mark.parametrize(("raw", "shown"), BAD_AMOUNTS, ids=[b[0] for b in BAD_AMOUNTS])
def test_bad_amount_in_the_file_is_a_located_spec_error(in_tmp, raw, shown):
    spec = tiny(in_tmp / "bad.yaml", {"max_learnable_params": raw})
    result = check(spec)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: bad.yaml is not a valid archinspect spec (1 problem)\n"
        f"bad.yaml:12:25: budget.max_learnable_params: must be {AMOUNT_HELP}; got {shown}\n"
    )
    assert (
        result.stdout == "0 budgets in 0 specs: 0 ok, 0 exceeded; 1 spec(s) could not be checked\n"
    )


@pytest.mark.parametrize(
    "option",
    ["--max-params", "--max-learnable-params", "--max-param-bytes", "--max-flops", "--max-memory"],
)
@pytest.mark.parametrize("raw", ["1.5X", "-1", "1.0005k", "ten"])
def test_bad_amount_on_the_command_line_names_the_option(in_tmp, option, raw):
    spec = tiny(in_tmp / "tiny.yaml", {"max_params": 100})
    result = check(spec, option, raw)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {option} must be {AMOUNT_HELP}; got {raw!r}\n"


def test_negative_rf_on_the_command_line_is_a_usage_error(in_tmp):
    spec = tiny(in_tmp / "tiny.yaml", {"max_params": 100})
    for option in ("--min-rf", "--max-rf"):
        result = check(spec, option, "-1")
        assert result.exit_code == 2
        assert result.stdout == ""
        assert option in result.stderr


def test_no_spec_argument_and_unknown_format_are_usage_errors(in_tmp):
    assert check().exit_code == 2
    spec = tiny(in_tmp / "tiny.yaml", {"max_params": 100})
    bad_format = check(spec, "--format", "xml")
    assert bad_format.exit_code == 2
    assert bad_format.stdout == ""


# ---------------------------------------------------------------------------------------------
# Command-line limits win over the file.
# ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("repo_root")
class TestOverrides:
    def test_file_limit_passes(self):
        result = check("configs/convnet.yaml")
        assert result.exit_code == 0, result.output
        assert table_rows(result.stdout) == [
            ("configs/convnet.yaml", "max_params", "10,000", "7,169", "28.3%", "ok")
        ]
        assert after_table(result.stdout) == ["1 budget in 1 spec: 1 ok, 0 exceeded"]
        assert result.stderr == ""

    def test_lower_cli_limit_fails(self):
        result = check("configs/convnet.yaml", "--max-params", "7000")
        assert result.exit_code == 1, result.output
        assert table_rows(result.stdout) == [
            ("configs/convnet.yaml", "max_params", "7,000 (cli)", "7,169", "-2.4%", "EXCEEDED")
        ]
        assert after_table(result.stdout) == [
            "configs/convnet.yaml: parameters 7,169 exceed max_params 7,000 by 169 "
            "(limit set on the command line)",
            "1 budget in 1 spec: 0 ok, 1 exceeded (in 1 spec)",
        ]

    def test_higher_cli_limit_passes(self):
        result = check("configs/convnet.yaml", "--max-params", "8000")
        assert result.exit_code == 0, result.output
        assert table_rows(result.stdout) == [
            ("configs/convnet.yaml", "max_params", "8,000 (cli)", "7,169", "10.4%", "ok")
        ]

    def test_cli_si_amount_and_json(self):
        result = check("configs/convnet.yaml", "--max-params", "7k", "--format", "json")
        assert result.exit_code == 1, result.output
        # the exact entry: the file's line stays (the budget is written there), the message and
        # from_command_line say the limit came from the command line
        assert payload(result) == {
            "results": [
                {
                    "spec": "configs/convnet.yaml",
                    "name": "convnet-1d",
                    "budget": "max_params",
                    "limit": 7000,
                    "actual": 7169,
                    "ok": False,
                    "headroom_percent": -2.414,  # -169 / 7000
                    "line": 16,
                    "from_command_line": True,
                    "message": "parameters 7,169 exceed max_params 7,000 by 169 "
                    "(limit set on the command line)",
                }
            ],
            "errors": [],
            "unbudgeted": [],
            "ok": False,
        }

    def test_cli_limit_applies_to_every_spec(self):
        result = check(
            "configs/convnet.yaml", f"{CHECK}/within.yaml", "--max-params", "140", "-f", "json"
        )
        assert result.exit_code == 1, result.output
        assert [
            (r["spec"], r["budget"], r["limit"], r["ok"]) for r in payload(result)["results"]
        ] == [
            ("configs/convnet.yaml", "max_params", 140, False),
            (f"{CHECK}/within.yaml", "max_params", 140, False),
            (f"{CHECK}/within.yaml", "max_learnable_params", 141, True),
            (f"{CHECK}/within.yaml", "max_param_bytes", 65_536, True),
        ]

    def test_set_budget_counts_as_from_the_command_line(self):
        result = check("configs/convnet.yaml", "--set", "budget.max_params=7000", "-f", "json")
        assert result.exit_code == 1, result.output
        [r] = payload(result)["results"]
        assert (r["limit"], r["line"]) == (7000, None)
        assert r["from_command_line"] is True


# ---------------------------------------------------------------------------------------------
# Several files: exit codes, globs, JSON.
# ---------------------------------------------------------------------------------------------

# Lines and columns of the budget values in tests/specs/check/*.yaml, counted by hand.
OVER_LINES = {"max_params": (15, 15), "max_learnable_params": (16, 25), "max_param_bytes": (18, 7)}
WITHIN_LINES = {
    "max_params": (12, 15),
    "max_learnable_params": (13, 25),
    "max_param_bytes": (14, 20),
}
BAD_LINES = {"max_params": (10, 15), "max_flops": (11, 14), "max_memory": (12, 15)}
BAD_MESSAGE = (
    f"error: {CHECK}/bad.yaml is not a valid archinspect spec (3 problems)\n"
    f"{CHECK}/bad.yaml:10:15: budget.max_params: must be {AMOUNT_HELP}; got '1.5X'\n"
    f"{CHECK}/bad.yaml:11:14: budget.max_flops: must be {AMOUNT_HELP}; got -5\n"
    f"{CHECK}/bad.yaml:12:15: budget.max_memory: must be {AMOUNT_HELP}; got '1.0005k'"
)


def test_hand_counted_lines_match_the_files(repo_root):
    """The hand counts above against the files themselves (1-based lines and columns)."""
    written = {
        "over": {"max_params": "140", "max_learnable_params": '"1.5k"', "max_param_bytes": "0.5Ki"},
        "within": {"max_params": "1_000", "max_learnable_params": "141", "max_param_bytes": "64Ki"},
        "bad": {"max_params": "1.5X", "max_flops": "-5", "max_memory": "1.0005k"},
    }
    for name, lines in (("over", OVER_LINES), ("within", WITHIN_LINES), ("bad", BAD_LINES)):
        text = (repo_root / CHECK / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
        for key, (line, col) in lines.items():
            value = written[name][key]
            assert text[line - 1][col - 1 :].split("#")[0].rstrip() == value, (name, key)
            key_line = line - 1 if name == "over" and key == "max_param_bytes" else line
            assert text[key_line - 1].startswith(f"  {key}:"), (name, key)
    # over.yaml's max_param_bytes: the key on line 17, its value on line 18
    over = (repo_root / CHECK / "over.yaml").read_text(encoding="utf-8").splitlines()
    assert over[16] == "  max_param_bytes:"


WITHIN_RESULTS = [
    amount_result(f"{CHECK}/within.yaml", "max_params", 1000, H2, 85.9, 12),
    amount_result(f"{CHECK}/within.yaml", "max_learnable_params", 141, H2, 0.0, 13),
    amount_result(f"{CHECK}/within.yaml", "max_param_bytes", 65_536, 4 * H2, 99.139, 14),
]
OVER_RESULTS = [
    amount_result(f"{CHECK}/over.yaml", "max_params", 140, H2, -0.714, 15),
    amount_result(f"{CHECK}/over.yaml", "max_learnable_params", 1500, H2, 90.6, 16),
    amount_result(f"{CHECK}/over.yaml", "max_param_bytes", 512, 4 * H2, -10.156, 18),
]


@pytest.mark.usefixtures("repo_root")
class TestSeveralFiles:
    def test_quoted_glob_is_expanded_and_a_bad_spec_means_exit_2(self):
        result = check(f"{CHECK}/*.yaml", "--format", "json")
        assert result.exit_code == 2, result.output
        assert result.stderr == ""  # json carries the errors itself
        assert payload(result) == {
            "results": OVER_RESULTS + WITHIN_RESULTS,
            "errors": [{"spec": f"{CHECK}/bad.yaml", "message": BAD_MESSAGE}],
            "unbudgeted": [],
            "ok": False,
        }

    @pytest.mark.parametrize(
        ("names", "exit_code"),
        [
            (["within", "over", "bad"], 2),
            (["bad", "within"], 2),
            (["bad"], 2),
            (["within", "over"], 1),
            (["over"], 1),
            (["within"], 0),
        ],
    )
    def test_exit_codes(self, names, exit_code):
        result = check(*(f"{CHECK}/{n}.yaml" for n in names))
        assert result.exit_code == exit_code, result.output
        # the table formats print a bad spec's message on stderr
        assert result.stderr == (BAD_MESSAGE + "\n" if "bad" in names else "")

    def test_table_of_mixed_results(self):
        result = check(f"{CHECK}/*.yaml")
        assert result.exit_code == 2
        assert table_rows(result.stdout) == [
            (f"{CHECK}/over.yaml", "max_params", "140", "141", "-0.7%", "EXCEEDED"),
            (f"{CHECK}/over.yaml", "max_learnable_params", "1,500", "141", "90.6%", "ok"),
            (f"{CHECK}/over.yaml", "max_param_bytes", "512", "564", "-10.2%", "EXCEEDED"),
            (f"{CHECK}/within.yaml", "max_params", "1,000", "141", "85.9%", "ok"),
            (f"{CHECK}/within.yaml", "max_learnable_params", "141", "141", "0.0%", "ok"),
            (f"{CHECK}/within.yaml", "max_param_bytes", "65,536", "564", "99.1%", "ok"),
        ]
        assert after_table(result.stdout) == [
            f"{CHECK}/over.yaml: parameters 141 exceed max_params 140 by 1",
            f"{CHECK}/over.yaml: parameter bytes 564 exceed max_param_bytes 512 by 52",
            "6 budgets in 2 specs: 4 ok, 2 exceeded (in 1 spec); 1 spec(s) could not be checked",
        ]
        assert result.stderr == BAD_MESSAGE + "\n"

    def test_csv_and_markdown(self):
        csv_result = check(f"{CHECK}/over.yaml", "--format", "csv")
        assert csv_result.exit_code == 1
        # headroom as a number, percent of the limit, 3 decimals: (140 - 141) / 140 = -0.714%,
        # (1500 - 141) / 1500 = 90.6%, (512 - 564) / 512 = -10.15625%
        assert csv_result.stdout == (
            "spec,name,budget,limit,actual,headroom_percent,ok,line\n"
            f"{CHECK}/over.yaml,over,max_params,140,141,-0.714,False,15\n"
            f"{CHECK}/over.yaml,over,max_learnable_params,1500,141,90.6,True,16\n"
            f"{CHECK}/over.yaml,over,max_param_bytes,512,564,-10.156,False,18\n"
        )
        md = check(f"{CHECK}/over.yaml", "--format", "markdown")
        assert md.exit_code == 1
        assert md.stdout == (
            "| spec | budget | limit | actual | headroom | ok |\n"
            "|---|---|---:|---:|---:|---|\n"
            f"| {CHECK}/over.yaml | max_params | 140 | 141 | -0.7% | **exceeded** |\n"
            f"| {CHECK}/over.yaml | max_learnable_params | 1,500 | 141 | 90.6% | ok |\n"
            f"| {CHECK}/over.yaml | max_param_bytes | 512 | 564 | -10.2% | **exceeded** |\n"
            "\n"
            "3 budgets in 1 spec: 1 ok, 2 exceeded (in 1 spec)\n"
        )

    def test_a_path_given_twice_or_also_by_a_glob_is_checked_once(self):
        within = f"{CHECK}/within.yaml"
        result = check(within, f"{CHECK}/w*.yaml", within, "--format", "json")
        assert result.exit_code == 0, result.output
        assert payload(result)["results"] == WITHIN_RESULTS

    def test_pattern_matching_nothing_is_exit_2(self):
        result = check(f"{CHECK}/within.yaml", f"{CHECK}/*.nothing")
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == f"error: no spec file matches '{CHECK}/*.nothing'\n"

    def test_missing_file_is_exit_2(self):
        result = check(f"{CHECK}/within.yaml", f"{CHECK}/missing.yaml", "--format", "json")
        assert result.exit_code == 2
        data = payload(result)
        assert data["results"] == WITHIN_RESULTS
        assert data["errors"] == [
            {
                "spec": f"{CHECK}/missing.yaml",
                "message": f"error: spec file not found: {CHECK}/missing.yaml",
            }
        ]


def test_spec_without_budget_is_reported_unbudgeted(in_tmp):
    spec = tiny(in_tmp / "free.yaml")
    result = check(spec)
    assert result.exit_code == 0, result.output
    assert result.stdout == "0 budgets in 0 specs: 0 ok, 0 exceeded; no budget in: free.yaml\n"
    assert result.stderr == f"warning: free.yaml: {NO_BUDGET}\n"
    data = payload(check(spec, "--format", "json"))
    assert data == {"results": [], "errors": [], "unbudgeted": ["free.yaml"], "ok": True}
    # an empty `budget:` is no budget either
    empty = tiny(in_tmp / "empty.yaml", "budget:\n")
    assert payload(check(empty, spec, "-f", "json"))["unbudgeted"] == ["empty.yaml", "free.yaml"]
    # with a command-line limit it has a budget
    limited = check(spec, "--max-params", "14", "--format", "json")
    assert limited.exit_code == 1
    assert payload(limited)["results"] == [
        amount_result("free.yaml", "max_params", 14, 15, -7.143, None, cli=True)
    ]
    assert payload(limited)["unbudgeted"] == []


# ---------------------------------------------------------------------------------------------
# JUnit XML, parsed back and validated.
# ---------------------------------------------------------------------------------------------

# The Jenkins JUnit schema pytest's output follows (tests/data/junit-10.xsd says where it comes
# from), plus what a schema cannot say: counts that add up, and one id per testcase.
JUNIT_XSD = Path(__file__).parent / "data" / "junit-10.xsd"


def validate_junit(root: ET.Element) -> None:
    import xmlschema

    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(ET.tostring(root, encoding="unicode"))
    ids = [(c.get("classname"), c.get("name")) for c in root.iter("testcase")]
    assert len(ids) == len(set(ids)), ids
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == sum(len(c.findall("failure")) for c in cases)
        assert int(suite.get("skipped", "0")) == sum(len(c.findall("skipped")) for c in cases)
        assert all(len(c) <= 1 for c in cases)
    if root.tag == "testsuites":
        for key in ("tests", "failures", "errors"):
            assert int(root.get(key)) == sum(int(s.get(key)) for s in root)


def test_junit_file_parses_back_and_validates(repo_root, tmp_path):
    out = tmp_path / "report.xml"
    result = check(f"{CHECK}/*.yaml", "--format", "junit", "--output", str(out))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"wrote {out}\n"
    text = out.read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(text)
    validate_junit(root)
    assert root.tag == "testsuites"
    # two exceeded budgets and the spec that could not be checked are failures (the schema
    # has no <error> element): 3 failures in 7 testcases, no errors
    assert {k: root.get(k) for k in ("tests", "failures", "errors")} == {
        "tests": "7",
        "failures": "3",
        "errors": "0",
    }
    suites = [
        (s.get("name"), s.get("tests"), s.get("failures"), s.get("errors"), s.get("skipped"))
        for s in root
    ]
    assert suites == [
        (f"{CHECK}/over.yaml", "3", "2", "0", "0"),
        (f"{CHECK}/within.yaml", "3", "0", "0", "0"),
        (f"{CHECK}/bad.yaml", "1", "1", "0", "0"),
    ]
    cases = [
        (
            c.get("classname"),
            c.get("name"),
            sorted(c.attrib),
            [(child.tag, child.get("type"), child.get("message")) for child in c],
        )
        for c in root.iter("testcase")
    ]
    over, within, bad = f"{CHECK}/over.yaml", f"{CHECK}/within.yaml", f"{CHECK}/bad.yaml"
    only = ["classname", "name"]  # no `file`/`line`: junit-10.xsd does not allow them
    assert cases == [
        (
            over,
            "max_params",
            only,
            [("failure", "BudgetExceeded", "parameters 141 exceed max_params 140 by 1")],
        ),
        (over, "max_learnable_params", only, []),
        (
            over,
            "max_param_bytes",
            only,
            [("failure", "BudgetExceeded", "parameter bytes 564 exceed max_param_bytes 512 by 52")],
        ),
        (within, "max_params", only, []),
        (within, "max_learnable_params", only, []),
        (within, "max_param_bytes", only, []),
        (
            bad,
            "spec",
            only,
            [
                (
                    "failure",
                    "SpecError",
                    f"error: {bad} is not a valid archinspect spec (3 problems)",
                )
            ],
        ),
    ]
    failures = [f.text for f in root.iter("failure")]
    assert failures == [
        f"limit 140, actual 141 ({over}:15)",
        f"limit 512, actual 564 ({over}:18)",
        BAD_MESSAGE,
    ]


def test_junit_ids_are_unique_for_specs_sharing_a_name(in_tmp):
    """Two spec files with the same `name:` gave identical (classname, name) pairs, and GitLab
    keeps only the first of duplicates; the classname is the spec file now."""
    a = tiny(in_tmp / "a.yaml", {"max_params": 100}, name="same")
    b = tiny(in_tmp / "b.yaml", {"max_params": 100}, name="same")
    result = check(a, b, "-f", "junit")
    root = ET.fromstring(result.stdout)
    validate_junit(root)  # asserts the ids are unique
    assert [(c.get("classname"), c.get("name")) for c in root.iter("testcase")] == [
        ("a.yaml", "max_params"),
        ("b.yaml", "max_params"),
    ]
    # the spec's name is kept, as a property of its testsuite
    assert [p.get("value") for p in root.iter("property") if p.get("name") == "name"] == [
        "same",
        "same",
    ]


def test_junit_cli_limit_and_all_passing(repo_root, tmp_path):
    out = tmp_path / "ok.xml"
    result = check(f"{CHECK}/within.yaml", "-f", "junit", "-o", str(out))
    assert result.exit_code == 0
    root = ET.fromstring(out.read_text(encoding="utf-8"))
    validate_junit(root)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "0", "0")
    assert list(root.iter("failure")) == []
    # a limit only on the command line: no line attribute, and the text says where it came from
    spec = tiny(tmp_path / "tiny.yaml")
    cli = check(spec, "--max-learnable-params", "14", "-f", "junit")
    assert cli.exit_code == 1
    root = ET.fromstring(cli.stdout)
    validate_junit(root)
    [case] = root.iter("testcase")
    [failure] = case
    assert failure.text == "limit 14, actual 15 (limit from the command line)"


# ---------------------------------------------------------------------------------------------
# GitHub annotations: on the YAML line of the exceeded budget's value.
# ---------------------------------------------------------------------------------------------


def annotation(file: str, budget: str, message: str, where: tuple[int, int] | None) -> str:
    place = f",line={where[0]},col={where[1]}" if where else ""
    return f"::error file={file}{place},title=archinspect budget {budget}::{message}"


@pytest.mark.usefixtures("repo_root")
class TestGithub:
    def test_lines_of_exceeded_budgets(self):
        over = f"{CHECK}/over.yaml"
        result = check(over, f"{CHECK}/within.yaml", "--format", "github")
        assert result.exit_code == 1
        assert result.stderr == ""
        assert result.stdout.splitlines() == [
            annotation(
                over,
                "max_params",
                "parameters 141 exceed max_params 140 by 1",
                OVER_LINES["max_params"],
            ),
            annotation(
                over,
                "max_param_bytes",
                "parameter bytes 564 exceed max_param_bytes 512 by 52",
                OVER_LINES["max_param_bytes"],
            ),
            "6 budgets in 2 specs: 4 ok, 2 exceeded (in 1 spec)",
        ]
        assert OVER_LINES["max_params"] == (15, 15)
        assert OVER_LINES["max_param_bytes"] == (18, 7)  # the value, on the line after its key

    def test_cli_override_of_a_file_key_keeps_the_files_line(self):
        """README: the annotation stays on the budget's line; the message names the CLI."""
        over = f"{CHECK}/over.yaml"
        result = check(
            over, "--max-learnable-params", "140", "--max-params", "100", "--format", "github"
        )
        assert result.exit_code == 1
        assert result.stdout.splitlines() == [
            annotation(
                over,
                "max_params",
                "parameters 141 exceed max_params 100 by 41 (limit set on the command line)",
                (15, 15),
            ),
            annotation(
                over,
                "max_learnable_params",
                "learnable parameters 141 exceed max_learnable_params 140 by 1 "
                "(limit set on the command line)",
                (16, 25),
            ),
            annotation(
                over,
                "max_param_bytes",
                "parameter bytes 564 exceed max_param_bytes 512 by 52",
                (18, 7),
            ),
            "3 budgets in 1 spec: 0 ok, 3 exceeded (in 1 spec)",
        ]
        within = f"{CHECK}/within.yaml"
        only = check(within, "--max-params", "99", "--format", "github")
        assert only.stdout.splitlines()[0] == annotation(
            within,
            "max_params",
            "parameters 141 exceed max_params 99 by 42 (limit set on the command line)",
            (12, 15),
        )

    def test_limit_only_on_the_command_line_has_no_line(self, tmp_path):
        spec = tiny(tmp_path / "tiny.yaml")
        result = check(spec, "--max-param-bytes", "59", "--format", "github")
        assert result.exit_code == 1
        assert result.stdout.splitlines() == [
            f"::error file={spec},title=archinspect budget max_param_bytes::parameter bytes 60 "
            "exceed max_param_bytes 59 by 1 (limit set on the command line)",
            "1 budget in 1 spec: 0 ok, 1 exceeded (in 1 spec)",
        ]

    def test_bad_spec_annotates_each_problem_line(self):
        bad = f"{CHECK}/bad.yaml"
        result = check(bad, f"{CHECK}/within.yaml", "--format", "github")
        assert result.exit_code == 2
        assert result.stderr == ""
        assert result.stdout.splitlines() == [
            f"::error file={bad},line=10,col=15,title=archinspect spec::budget.max_params: "
            f"must be {AMOUNT_HELP}; got '1.5X'",
            f"::error file={bad},line=11,col=14,title=archinspect spec::budget.max_flops: "
            f"must be {AMOUNT_HELP}; got -5",
            f"::error file={bad},line=12,col=15,title=archinspect spec::budget.max_memory: "
            f"must be {AMOUNT_HELP}; got '1.0005k'",
            "3 budgets in 1 spec: 3 ok, 0 exceeded; 1 spec(s) could not be checked",
        ]
        assert BAD_LINES == {"max_params": (10, 15), "max_flops": (11, 14), "max_memory": (12, 15)}

    def test_file_property_is_escaped(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        spec = tiny(tmp_path / "a,b:c.yaml", {"max_params": 14}, name="abc")
        result = check("a,b:c.yaml", "--format", "github")
        assert result.exit_code == 1
        assert Path(spec).name == "a,b:c.yaml"
        assert result.stdout.splitlines()[0] == (
            "::error file=a%2Cb%3Ac.yaml,line=12,col=15,title=archinspect budget max_params::"
            "parameters 15 exceed max_params 14 by 1"
        )


# ---------------------------------------------------------------------------------------------
# Receptive-field budgets (the RF analysis lands in parallel: these run once it exists).
# A ConvNet of depth D and odd kernel k has D+1 convs: RF (D+1)*(k-1)/2 on each side.
# ---------------------------------------------------------------------------------------------


def convnet_rf(depth: int, k: int) -> int:
    return (depth + 1) * (k - 1) // 2


RF_SPEC = """\
name: {name}
model:
  family: ConvNet
  num_spatial_dims: {dims}
  in_channels: 1
  out_channels: 1
  hidden_channels: 2
  depth: {depth}
  kernel_size: {k}
input:
  resolution: 16
budget:
  receptive_field:
{bounds}"""


def rf_spec(path: Path, bounds: dict, dims: int = 1, depth: int = 10, k: int = 3) -> str:
    """RF bounds from line 14 on (min first), each value at column 10 ('    min: ')."""
    lines = "".join(f"    {b}: {json.dumps(v)}\n" for b, v in bounds.items())
    text = RF_SPEC.format(name=path.stem, dims=dims, depth=depth, k=k, bounds=lines)
    path.write_text(text, encoding="utf-8")
    return relative(path)


def pairs_text(pairs) -> str:
    return " ".join(f"({b},{f})" for b, f in pairs)


def rf_result(spec, bound, limit, actual, ok, line, cli=False) -> dict:
    verdict = "meets" if ok else "violates"
    relation = "at least" if bound == "min" else "at most"
    return {
        "spec": spec,
        "name": Path(spec).stem,
        "budget": f"receptive_field.{bound}",
        "limit": [list(p) for p in limit],
        "actual": [list(p) for p in actual],
        "ok": ok,
        "headroom_percent": None,
        "line": line,
        "from_command_line": cli,
        "message": f"receptive field {pairs_text(actual)} {verdict} {relation} "
        f"{pairs_text(limit)} per axis (backward, forward)"
        + (" (limit set on the command line)" if cli else ""),
    }


@pytest.mark.parametrize(("depth", "k"), [(10, 3), (2, 5), (4, 7)])
def test_rf_one_number_within_at_and_over(in_tmp, depth, k):
    rf = convnet_rf(depth, k)
    assert convnet_rf(10, 3) == 11
    at = rf_spec(in_tmp / "at.yaml", {"min": rf, "max": rf}, depth=depth, k=k)
    within = rf_spec(in_tmp / "within.yaml", {"min": rf - 1, "max": rf + 1}, depth=depth, k=k)
    ok = check(at, within, "--format", "json")
    assert ok.exit_code == 0, ok.output
    one = [(rf, rf)]
    assert payload(ok)["results"] == [
        rf_result(at, "min", one, one, True, 14),
        rf_result(at, "max", one, one, True, 15),
        rf_result(within, "min", [(rf - 1, rf - 1)], one, True, 14),
        rf_result(within, "max", [(rf + 1, rf + 1)], one, True, 15),
    ]
    too_small = rf_spec(in_tmp / "small.yaml", {"min": rf + 1}, depth=depth, k=k)
    too_big = rf_spec(in_tmp / "big.yaml", {"max": rf - 1}, depth=depth, k=k)
    bad = check(too_small, too_big, "--format", "json")
    assert bad.exit_code == 1, bad.output
    assert payload(bad)["results"] == [
        rf_result(too_small, "min", [(rf + 1, rf + 1)], one, False, 14),
        rf_result(too_big, "max", [(rf - 1, rf - 1)], one, False, 14),
    ]


def test_rf_per_axis_lists_of_ints_and_pairs(in_tmp):
    # 2-D, depth 2, kernel 3: 3 convs, (3, 3) on both axes
    actual = [(3, 3), (3, 3)]
    ok_spec = rf_spec(in_tmp / "ok.yaml", {"min": [3, [3, 2]], "max": [[3, 3], 3]}, dims=2, depth=2)
    ok = check(ok_spec, "--format", "json")
    assert ok.exit_code == 0, ok.output
    assert payload(ok)["results"] == [
        rf_result(ok_spec, "min", [(3, 3), (3, 2)], actual, True, 14),
        rf_result(ok_spec, "max", [(3, 3), (3, 3)], actual, True, 15),
    ]
    # one direction of one axis is enough to fail
    min_spec = rf_spec(in_tmp / "min.yaml", {"min": [3, [3, 4]]}, dims=2, depth=2)
    max_spec = rf_spec(in_tmp / "max.yaml", {"max": [[2, 3], 3]}, dims=2, depth=2)
    bad = check(min_spec, max_spec, "--format", "json")
    assert bad.exit_code == 1, bad.output
    assert payload(bad)["results"] == [
        rf_result(min_spec, "min", [(3, 3), (3, 4)], actual, False, 14),
        rf_result(max_spec, "max", [(2, 3), (3, 3)], actual, False, 14),
    ]
    table = check(min_spec)
    assert table_rows(table.stdout) == [
        ("min.yaml", "receptive_field.min", "(3,3) (3,4)", "(3,3) (3,3)", "", "EXCEEDED")
    ]


def test_rf_even_kernel_pairs(in_tmp):
    """README "Exact receptive fields": a 4-tap conv is (1, 2) as JAX pads it; depth 1 = two
    convs: (2, 4)."""
    at = rf_spec(in_tmp / "at.yaml", {"min": [[2, 4]], "max": [[2, 4]]}, depth=1, k=4)
    result = check(at, "--format", "json")
    assert result.exit_code == 0, result.output
    assert [r["actual"] for r in payload(result)["results"]] == [[[2, 4]], [[2, 4]]]
    swapped = rf_spec(in_tmp / "swapped.yaml", {"min": [[4, 2]]}, depth=1, k=4)
    assert check(swapped).exit_code == 1


def test_rf_spectral_is_inf(in_tmp):
    spec = in_tmp / "fno.yaml"
    spec.write_text(
        "model: {family: ClassicFNO, num_spatial_dims: 1, in_channels: 1, out_channels: 1,\n"
        "        hidden_channels: 2, num_modes: 2, num_blocks: 1}\n"
        "input: {resolution: 16}\n"
        "budget:\n"
        "  receptive_field: {min: 1000, max: 1000}\n",
        encoding="utf-8",
    )
    result = check("fno.yaml", "--format", "json")
    assert result.exit_code == 1, result.output
    results = payload(result)["results"]
    assert [(r["budget"], r["actual"], r["ok"]) for r in results] == [
        ("receptive_field.min", [["inf", "inf"]], True),
        ("receptive_field.max", [["inf", "inf"]], False),
    ]
    github = check("fno.yaml", "--format", "github")
    # both bounds sit on line 5 in a flow mapping; max's value starts at column 37
    assert github.stdout.splitlines()[0] == (
        "::error file=fno.yaml,line=5,col=37,title=archinspect budget receptive_field.max::"
        "receptive field (inf,inf) violates at most (1000,1000) per axis (backward, forward)"
    )


def test_rf_wrong_length_list_is_a_located_spec_error(in_tmp):
    spec = rf_spec(
        in_tmp / "long.yaml", {"min": 1, "max": [[3, 3], [3, 3], [3, 3]]}, dims=2, depth=2
    )
    result = check(spec)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: long.yaml is not a valid archinspect spec (1 problem)\n"
        "long.yaml:15:10: budget.receptive_field.max: needs one entry per spatial axis (2), "
        "got [[3, 3], [3, 3], [3, 3]]\n"
    )
    short = rf_spec(in_tmp / "short.yaml", {"min": [3]}, dims=2, depth=2)
    github = check(short, "--format", "github")
    assert github.exit_code == 2
    assert github.stdout.splitlines() == [
        "::error file=short.yaml,line=14,col=10,title=archinspect spec::"
        "budget.receptive_field.min: needs one entry per spatial axis (2), got [3]",
        "0 budgets in 0 specs: 0 ok, 0 exceeded; 1 spec(s) could not be checked",
    ]


def test_rf_limits_from_the_command_line(repo_root):
    args = ("configs/convnet.yaml", "--set", "model.hidden_channels=2")
    at = check(*args, "--min-rf", "11", "--max-rf", "11")
    assert at.exit_code == 0, at.output
    assert table_rows(at.stdout) == [
        ("configs/convnet.yaml", "max_params", "10,000", "141", "98.6%", "ok"),
        ("configs/convnet.yaml", "receptive_field.min", "(11,11) (cli)", "(11,11)", "", "ok"),
        ("configs/convnet.yaml", "receptive_field.max", "(11,11) (cli)", "(11,11)", "", "ok"),
    ]
    over = check(*args, "--min-rf", "12", "--format", "github")
    assert over.exit_code == 1
    assert over.stdout.splitlines() == [
        "::error file=configs/convnet.yaml,title=archinspect budget receptive_field.min::"
        "receptive field (11,11) violates at least (12,12) per axis (backward, forward) "
        "(limit set on the command line)",
        "2 budgets in 1 spec: 1 ok, 1 exceeded (in 1 spec)",
    ]
    under = check(*args, "--max-rf", "10", "--format", "json")
    assert under.exit_code == 1
    assert payload(under)["results"][1] == rf_result(
        "configs/convnet.yaml", "max", [(10, 10)], [(11, 11)], False, None, cli=True
    ) | {"name": "convnet-1d"}


def test_rf_cli_bound_overrides_only_its_own_bound_in_the_file(in_tmp):
    spec = rf_spec(in_tmp / "rf.yaml", {"min": 11, "max": 11})
    result = check(spec, "--max-rf", "10", "--format", "json")
    assert result.exit_code == 1
    assert payload(result)["results"] == [
        rf_result(spec, "min", [(11, 11)], [(11, 11)], True, 14),
        rf_result(spec, "max", [(10, 10)], [(11, 11)], False, 15, cli=True),
    ]


def test_wrong_length_rf_list_is_reported_with_the_other_problems(in_tmp):
    budget = "budget:\n  max_params: 1.5X\n  receptive_field: {min: [1, 1]}\n"
    (in_tmp / "two.yaml").write_text(TINY.format(name="two", budget=budget), encoding="utf-8")
    result = check("two.yaml")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "error: two.yaml is not a valid archinspect spec (2 problems)"
    assert lines[1] == f"two.yaml:12:15: budget.max_params: must be {AMOUNT_HELP}; got '1.5X'"
    assert lines[2].startswith("two.yaml:13:26: budget.receptive_field.min: ")


def test_validate_refuses_a_wrong_length_rf_list(in_tmp):
    budget = "budget:\n  receptive_field: {max: [[3, 3], [3, 3]]}\n"
    (in_tmp / "long.yaml").write_text(TINY.format(name="long", budget=budget), encoding="utf-8")
    result = runner.invoke(app, ["validate", "long.yaml"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[1].startswith("long.yaml:12:26: budget.receptive_field.max: ")


# ---------------------------------------------------------------------------------------------
# The project's own budgets and its pre-commit hook.
# ---------------------------------------------------------------------------------------------


def test_pre_commit_hook(repo_root):
    hooks = yaml.safe_load((repo_root / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(hooks, list) and len(hooks) == 1
    [hook] = hooks
    assert hook["id"] == "archinspect-check"
    assert hook["entry"] == "archinspect check"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True
    assert {"id", "name", "entry", "language"} <= set(hook)


# 2-D ClassicUNet of configs/unet.yaml, as derived by hand in tests/test_cli.py
UNET_2D_TOTAL = 2544 + 196080 + 1177920 + 391920 + 588960 + 17
# reference figures (README "Families") for the 1-D configs with default arguments
REFERENCE = {
    "configs/convnet.yaml": H16,
    "configs/fno.yaml": 102_625,
    "configs/mlp.yaml": 14_576,
    "configs/modern_resnet.yaml": 38_113,
    "configs/unet.yaml": UNET_2D_TOTAL,
    "configs/pdequinox_unet.yaml": UNET_2D_TOTAL,
    # 3->5 lifting (5*3*3*3) + 5->7 group conv (7*5*S*3*3), no biases (tests/test_group_cnn.py)
    "configs/gcnn_c4.yaml": 135 + 7 * 5 * 4 * 9,
    "configs/gcnn_d4.yaml": 135 + 7 * 5 * 8 * 9,
}


# `make test` runs `archinspect check --require-budget configs/*.yaml` itself; this in-process
# copy runs with `make test-all`.
@pytest.mark.slow
def test_every_shipped_config_passes_its_budget(repo_root):
    configs = sorted(str(p.relative_to(repo_root)) for p in (repo_root / "configs").glob("*.yaml"))
    result = check("configs/*.yaml", "--format", "json")
    assert result.exit_code == 0, result.output
    data = payload(result)
    assert data["errors"] == [] and data["unbudgeted"] == [] and data["ok"] is True
    assert sorted({r["spec"] for r in data["results"]}) == configs  # every config has a budget
    assert [r for r in data["results"] if not r["ok"]] == []
    params = {r["spec"]: r["actual"] for r in data["results"] if r["budget"] == "max_params"}
    assert {k: params[k] for k in REFERENCE} == REFERENCE
    assert UNET_2D_TOTAL == 2_357_441


# ---------------------------------------------------------------------------------------------
# One spec that cannot be checked never costs the others their results, in any format; a spec
# without a budget is never passed in silence (README "Budgets in CI").
# ---------------------------------------------------------------------------------------------

BUG = (
    "internal error: bug.yaml: ZeroDivisionError: division by zero\n"
    "(this is a bug in archinspect; run with --debug for the traceback)"
)
INVALID = (
    "error: bad.yaml is not a valid archinspect spec (1 problem)\n"
    "bad.yaml:2:1: invalid YAML: expected the node content, but found '<stream end>' "
    "(while parsing a flow node at line 2, col 1)"
)


@pytest.fixture
def four_specs(in_tmp: Path, monkeypatch: pytest.MonkeyPatch, request) -> list[str]:
    """good.yaml within its budget, bug.yaml on which archinspect meets a bug (injected where
    the parameter says: while loading or while measuring), bad.yaml (invalid YAML) and
    free.yaml (no budget)."""
    import archinspect.commands.measure as measure_module
    import archinspect.spec as spec_package

    where = getattr(request, "param", "measure")
    if where == "load":
        load = spec_package.load_spec

        def load_spec(path, *args, **kwargs):
            if path == "bug.yaml":
                raise ZeroDivisionError("division by zero")
            return load(path, *args, **kwargs)

        monkeypatch.setattr(spec_package, "load_spec", load_spec)
    else:
        measure_steps = measure_module.measure_steps

        def measure_or_bug(spec, names, **kwargs):
            if spec.name == "bug":
                raise ZeroDivisionError("division by zero")
            return (yield from measure_steps(spec, names, **kwargs))

        monkeypatch.setattr(measure_module, "measure_steps", measure_or_bug)
    tiny(in_tmp / "good.yaml", {"max_params": 20})
    tiny(in_tmp / "bug.yaml", {"max_params": 20})
    (in_tmp / "bad.yaml").write_text("model: [\n", encoding="utf-8")
    tiny(in_tmp / "free.yaml")
    return ["good.yaml", "bug.yaml", "bad.yaml", "free.yaml"]


GOOD_ROW = ("good.yaml", "max_params", "20", "15", "25.0%", "ok")


@pytest.mark.parametrize("four_specs", ["load", "measure"], indirect=True)
def test_junit_report_keeps_the_good_specs_beside_a_bug_and_a_bad_spec(four_specs, in_tmp):
    """Before: `check good.yaml bug.yaml --format junit -o report.xml` wrote no report."""
    result = check(*four_specs, "--format", "junit", "-o", "report.xml")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", "wrote report.xml\n")
    root = ET.fromstring((in_tmp / "report.xml").read_text(encoding="utf-8"))
    validate_junit(root)
    assert {k: root.get(k) for k in ("tests", "failures", "errors")} == {
        "tests": "4",
        "failures": "2",
        "errors": "0",
    }
    cases = [
        (
            c.get("classname"),
            c.get("name"),
            [(child.tag, child.get("type"), child.get("message"), child.text) for child in c],
        )
        for c in root.iter("testcase")
    ]
    assert cases == [
        ("good.yaml", "max_params", []),
        ("bug.yaml", "spec", [("failure", "InternalError", BUG.split("\n")[0], BUG)]),
        ("bad.yaml", "spec", [("failure", "SpecError", INVALID.split("\n")[0], INVALID)]),
        ("free.yaml", "budget", [("skipped", None, NO_BUDGET, None)]),
    ]


def test_every_format_keeps_the_good_specs_beside_a_bug_and_a_bad_spec(four_specs):
    warning = f"warning: free.yaml: {NO_BUDGET}"
    summary = (
        "1 budget in 1 spec: 1 ok, 0 exceeded; 2 spec(s) could not be checked; "
        "no budget in: free.yaml"
    )
    table = check(*four_specs)
    assert table.exit_code == 3
    assert table_rows(table.stdout) == [GOOD_ROW]
    assert after_table(table.stdout) == [summary]
    assert table.stderr.splitlines() == [*BUG.splitlines(), *INVALID.splitlines(), warning]

    for fmt in ("csv", "markdown"):
        result = check(*four_specs, "-f", fmt)
        assert result.exit_code == 3, fmt
        assert "good.yaml" in result.stdout, fmt
        assert result.stderr == table.stderr, fmt

    data = payload(json_result := check(*four_specs, "-f", "json"))
    assert json_result.exit_code == 3
    assert [(r["spec"], r["ok"]) for r in data["results"]] == [("good.yaml", True)]
    assert data["errors"] == [
        {"spec": "bug.yaml", "message": BUG},
        {"spec": "bad.yaml", "message": INVALID},
    ]
    assert (data["unbudgeted"], data["ok"]) == (["free.yaml"], False)
    assert json_result.stderr == ""

    github = check(*four_specs, "-f", "github")
    assert (github.exit_code, github.stderr) == (3, "")
    assert github.stdout.splitlines() == [
        "::error file=bug.yaml,title=archinspect spec::" + BUG.replace("\n", "%0A"),
        "::error file=bad.yaml,line=2,col=1,title=archinspect spec::invalid YAML: expected the "
        "node content, but found '<stream end>' (while parsing a flow node at line 2, col 1)",
        f"::warning file=free.yaml,title=archinspect budget::{NO_BUDGET}",
        summary,
    ]


def test_without_the_bug_a_bad_spec_is_exit_2_and_a_good_one_still_reported(four_specs):
    result = check("good.yaml", "bad.yaml", "-f", "json")
    assert result.exit_code == 2
    assert [r["spec"] for r in payload(result)["results"]] == ["good.yaml"]


def test_debug_shows_the_bug_itself(four_specs):
    result = runner.invoke(app, ["--debug", "check", *four_specs])
    assert isinstance(result.exception, ZeroDivisionError)


def test_require_budget_fails_a_spec_without_one(in_tmp):
    """Before: a pull request that deleted a spec's `budget:` block passed `check` in silence."""
    good, free = tiny(in_tmp / "good.yaml", {"max_params": 20}), tiny(in_tmp / "free.yaml")
    result = check(good, free, "--require-budget")
    assert result.exit_code == 1
    assert table_rows(result.stdout) == [GOOD_ROW]
    assert after_table(result.stdout) == [
        "1 budget in 1 spec: 1 ok, 0 exceeded; no budget in: free.yaml"
    ]
    assert result.stderr == f"error: free.yaml: {NEEDS_BUDGET}\n"

    github = check(good, free, "--require-budget", "-f", "github")
    assert github.exit_code == 1
    assert github.stdout.splitlines()[0] == (
        f"::error file=free.yaml,title=archinspect budget::{NEEDS_BUDGET}"
    )
    data = payload(json_result := check(good, free, "--require-budget", "-f", "json"))
    assert json_result.exit_code == 1
    assert (data["unbudgeted"], data["ok"]) == (["free.yaml"], False)

    junit = check(good, free, "--require-budget", "-f", "junit")
    assert junit.exit_code == 1
    root = ET.fromstring(junit.stdout)
    validate_junit(root)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    [failure] = root.iter("failure")
    assert (failure.get("type"), failure.get("message"), failure.text) == (
        "NoBudget",
        NEEDS_BUDGET,
        NEEDS_BUDGET,
    )

    # every spec with a budget (from the file or the command line): --require-budget passes
    assert check(good, "--require-budget").exit_code == 0
    cli = check(good, free, "--require-budget", "--max-params", "20", "-f", "json")
    assert (cli.exit_code, payload(cli)["unbudgeted"]) == (0, [])


def test_spec_without_budget_warns_without_require_budget(in_tmp):
    good, free = tiny(in_tmp / "good.yaml", {"max_params": 20}), tiny(in_tmp / "free.yaml")
    github = check(good, free, "-f", "github")
    assert github.exit_code == 0
    assert github.stdout.splitlines()[0] == (
        f"::warning file=free.yaml,title=archinspect budget::{NO_BUDGET}"
    )
    data = payload(check(good, free, "-f", "json"))
    assert (data["unbudgeted"], data["ok"]) == (["free.yaml"], True)


@pytest.mark.parametrize("four_specs", ["load"], indirect=True)
def test_validate_checks_every_file_beside_a_bug_and_a_bad_spec(four_specs):
    result = runner.invoke(app, ["validate", *four_specs])
    assert result.exit_code == 3
    assert result.stdout == "ok: good.yaml\nok: free.yaml\n"
    assert result.stderr == f"{BUG}\n{INVALID}\n"


def test_summary_appends_the_markdown_report(in_tmp):
    """`--summary FILE` appends the Markdown table whatever --format prints, so each step of a
    CI job adds its report to $GITHUB_STEP_SUMMARY; a directory is refused, exit 2."""
    spec = tiny(in_tmp / "t.yaml", {"max_params": 10})
    (in_tmp / "summary.md").write_text("# earlier step\n")
    first = check(spec, "-f", "github", "--summary", "summary.md")
    second = check(spec, "-f", "json", "--summary", "summary.md")
    assert first.exit_code == second.exit_code == 1  # TINY_PARAMS = 15 exceed 10
    table = check(spec, "-f", "markdown").stdout
    assert (in_tmp / "summary.md").read_text() == "# earlier step\n" + (table + "\n") * 2
    (in_tmp / "dir").mkdir()
    refused = check(spec, "--summary", "dir")
    assert refused.exit_code == 2
    assert refused.stderr.endswith(
        "error: cannot write --summary dir: it is a directory; give a file name\n"
    )


def test_csv_round_trips_receptive_fields_and_headroom_as_numbers(in_tmp):
    """The csv module reads every cell back; per-axis RF values are numbers again through
    JSON (they were "(6464) (6464)" once), headroom a float, not "-17.9%". A 2-D ConvNet of
    depth 1: a k3 lifting conv 1 -> 2 and a k3 projection 2 -> 1, RF (1+1, 1+1) = (2,2)."""
    import csv as csv_module
    import io

    spec = in_tmp / "rf.yaml"
    spec.write_text(
        "model:\n  family: ConvNet\n  num_spatial_dims: 2\n  in_channels: 1\n"
        "  out_channels: 1\n  hidden_channels: 2\n  depth: 1\ninput:\n  resolution: [16, 16]\n"
        "budget:\n  receptive_field: {min: [[1, 1], [2, 2]]}\n  max_params: 1000\n"
    )
    result = check("rf.yaml", "-f", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv_module.DictReader(io.StringIO(result.stdout)))
    by_budget = {row["budget"]: row for row in rows}
    rf = by_budget["receptive_field.min"]
    assert json.loads(rf["limit"]) == [[1, 1], [2, 2]]
    assert json.loads(rf["actual"]) == [[2, 2], [2, 2]]
    # 1*2*9 + 2 + 2*1*9 + 1 = 39 parameters; headroom (1000 - 39) / 1000 = 96.1%
    assert (
        by_budget["max_params"]["actual"],
        float(by_budget["max_params"]["headroom_percent"]),
    ) == (
        "39",
        96.1,
    )
