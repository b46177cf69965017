"""Hostile inputs: sizes refused before the work they would cost, every type confusion a located
problem, user text that cannot drive a terminal, a spreadsheet or a CI log (README "Limits and
escaping"). One test per finding, with the reproducer as its input."""

from __future__ import annotations

import copy
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from archinspect.cli import app
from archinspect.errors import ArchinspectError, SpecError
from archinspect.families import FAMILIES
from archinspect.spec import document as document_module
from archinspect.spec import load_spec_text
from archinspect.spec.document import MAX_DEPTH, MAX_NODES, parse_document
from archinspect.spec.messages import MAX_QUOTED
from archinspect.spec.numbers import parse_amount
from archinspect.text import visible

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()

CONVNET = """\
model:
  family: ConvNet
  num_spatial_dims: 1
  in_channels: 1
  out_channels: 1
"""


def _problems(text: str, source: str = "s.yaml") -> list[str]:
    with pytest.raises(SpecError, match=r"is not a valid archinspect spec") as exc:
        load_spec_text(text, source)
    return exc.value.message.splitlines()[1:]


# --- amounts and integers: bounded before conversion -------------------------------------------

TOO_LARGE = "must be below 1e30 (at most 30 digits)"


def test_five_huge_exponent_amounts_are_refused_at_once() -> None:
    """`max_params: 1e999999` cost 50 s of CPU each (the integer was built); now the exponent is
    read as written. The bound is generous: the old path took minutes for these five."""
    keys = ("max_params", "max_learnable_params", "max_flops", "max_param_bytes", "max_memory")
    text = CONVNET + "budget:\n" + "".join(f"  {k}: 1e999999\n" for k in keys)
    start = time.process_time()
    lines = _problems(text)
    assert time.process_time() - start < 5
    assert lines == [
        f"s.yaml:{7 + i}:{5 + len(k)}: budget.{k}: {TOO_LARGE}; got '1e999999'"
        for i, k in enumerate(keys)
    ]


def test_max_params_option_with_a_huge_exponent_is_a_usage_error() -> None:
    result = runner.invoke(app, ["check", "configs/convnet.yaml", "--max-params", "1e999999"])
    assert result.exit_code == 2
    assert result.stderr == f"error: --max-params {TOO_LARGE}; got '1e999999'\n"


def test_amount_bounds_are_exact() -> None:
    assert parse_amount("999999999999999999999999999999") == 10**30 - 1
    assert parse_amount(10**30 - 1) == 10**30 - 1
    assert parse_amount("1e30") is None
    assert parse_amount(10**30) is None
    assert parse_amount(1e300) is None
    # 30 significant digits, scaled: exact
    assert parse_amount("123456789012345678901234567.891k") == 123456789012345678901234567891
    assert parse_amount("1e-99999999999") is None
    assert parse_amount("1" * 65) is None


def test_ten_thousand_digit_integer_in_a_file() -> None:
    lines = _problems(CONVNET.replace("out_channels: 1", "out_channels: " + "1" * 10_000))
    assert lines == [
        "s.yaml:5:17: model.out_channels: an integer of 10,000 digits; at most 30 digits "
        "are allowed"
    ]


def test_ten_thousand_digit_integer_in_set_and_values() -> None:
    digits = "1" * 10_000
    result = runner.invoke(
        app, ["validate", "configs/convnet.yaml", "--set", f"model.out_channels={digits}"]
    )
    assert result.exit_code == 2
    shown = f"model.out_channels={digits}"[:MAX_QUOTED]
    assert result.stderr.splitlines()[1] == (
        f"--set {shown}... (10,019 characters): model.out_channels: an integer of 10,000 "
        "digits; at most 30 digits are allowed"
    )
    result = runner.invoke(
        app, ["sweep", "configs/convnet.yaml", "--param", "depth", "--values", f"1,{digits}"]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --values expects a comma-separated list like 4,8,16; got "
        f"{f'1,{digits}'[:MAX_QUOTED]!r}... (10,002 characters) "
        "(an integer of 10,000 digits; at most 30 digits are allowed)\n"
    )


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


# --- YAML: libyaml, nodes and depth counted while parsing ---------------------------------------


def test_libyaml_parses_when_present() -> None:
    if yaml.__with_libyaml__:
        assert document_module._FAST_LOADER is yaml.CSafeLoader


def _events_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Patch yaml.parse to count the events archinspect draws from it."""
    drawn = [0]
    real = yaml.parse

    def counting(*args: Any, **kwargs: Any) -> Any:
        for event in real(*args, **kwargs):
            drawn[0] += 1
            yield event

    monkeypatch.setattr(yaml, "parse", counting)
    return drawn


def test_a_large_file_stops_at_the_node_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 20 MB list ran past 10 minutes and a 2 MB one took 85 s (the node limit applied after
    everything was parsed); spec files are now at most 4 MiB, and within that the parse stops
    at the limit."""
    path = tmp_path / "big.yaml"
    values = ", ".join(str(i % 97 + 1) for i in range(1_000_000))
    path.write_text(CONVNET + f"sweep:\n  hidden_channels: [{values}]\n", encoding="utf-8")
    assert 3_500_000 < path.stat().st_size < 4 * 2**20
    drawn = _events_counted(monkeypatch)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path} is not a valid archinspect spec (1 problem)\n"
        f"{path}:7:390682: the YAML has more than 100,000 keys and values; refusing to "
        "read further (a spec has a few dozen)\n"
    )
    assert drawn[0] < MAX_NODES + 100  # the parse stopped there


def test_a_huge_values_option_stops_at_the_node_limit() -> None:
    """`--values` is no file: the node limit is what bounds it."""
    values = ",".join(["1"] * 2_000_000)
    result = runner.invoke(
        app, ["sweep", "configs/convnet.yaml", "--param", "depth", "--values", values]
    )
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "(the YAML has more than 100,000 keys and values; refusing to read further (a spec has "
        "a few dozen))\n"
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("model: " + "[" * 1000 + "]" * 1000 + "\n", "s.yaml:1:71"),
        ("model:\n" + "".join("  " * (i + 1) + "a:\n" for i in range(1000)), "s.yaml:65:129"),
        ("model: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n", "s.yaml:1:260"),
    ],
    ids=["lists", "block-mappings", "flow-mappings"],
)
def test_thousand_level_nesting_is_refused_while_parsing(
    text: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = _events_counted(monkeypatch)
    assert _problems(text) == [
        f"{where}: mappings and lists are nested more than 64 levels deep; refusing to read further"
    ]
    assert drawn[0] < 2 * MAX_DEPTH + 10


def test_nesting_through_aliases_is_bounded() -> None:
    """Each alias nests a 40-level value inside 40 more levels: the file is within the limits,
    the value it expands to is not."""
    inner = "[" * 40 + "1" + "]" * 40
    text = f"a: &a {inner}\nb: {'[' * 40}*a{']' * 40}\n"
    doc = parse_document(text, "s.yaml")
    # located where the aliased value is written (as every alias's values are)
    assert [p.render("s.yaml") for p in doc.problems] == [
        "s.yaml:1:30: b" + "[0]" * 63 + ": the YAML expands to more than 64 levels of "
        "nesting through aliases; refusing to read it"
    ]


def test_alias_wording_only_for_aliases() -> None:
    """A plain long list was blamed on aliases; now only an alias expansion is."""
    plain = CONVNET + "sweep:\n  depth: [" + ", ".join(["1"] * (MAX_NODES + 1)) + "]\n"
    assert "aliases" not in "".join(_problems(plain))
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    for name, prev in zip("bcdefg", "abcdef", strict=True):
        bomb += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    doc = parse_document(bomb, "s.yaml")
    assert [p.message for p in doc.problems] == [
        "the YAML expands to more than 100,000 values through aliases; refusing to read it"
    ]


CORPUS = sorted((REPO / "tests" / "specs" / "bad").glob("*.yaml")) + sorted(
    (REPO / "configs").glob("*.yaml")
)


# Line breaks, a BOM, non-ASCII columns, escapes, tabs, control characters, aliases, block
# scalars, a second document, YAML 1.1 integers and timestamps, bad indentation.
EDGES = [
    "a: 1\r\nb: [1,\r\n 2]\r\n",
    "\ufeffa: 1\n",
    "a: 'x\u0085y'\nb: 2\n",
    'a: "\\ud800"\nb: é\n c: 1\n',
    "a:\n\t- 1\n",
    "a: \x07\n",
    "a: &x 1\nb: *x\nc: *y\n",
    "a: |\n  text\n  more\nb: >\n  folded\n",
    "- 1\n- 2\n---\n- 3\n",
    "a: {b: 1, c: [1, 2, {d: e}]}\nf: ? g\n",
    "a: 0o17\nb: 0x1F\nc: 1_000\nd: 190:20:30\ne: .inf\nf: ~\ng: 2001-12-14t21:59:43.10-05:00\n",
    "a: 1\n  b: 2\n",
    "key: value\u2028other: 1\n",
    "a: 'é🙂é'\nb: [x, y\n",
]


@pytest.mark.parametrize(
    "text",
    [p.read_text(encoding="utf-8") for p in CORPUS] + EDGES,
    ids=[p.stem for p in CORPUS] + [f"edge{i}" for i in range(len(EDGES))],
)
def test_libyaml_and_pyyaml_give_the_same_document(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Positions and problems do not depend on which parser read the file."""
    fast = parse_document(text, "s.yaml")
    monkeypatch.setattr(document_module, "_FAST_LOADER", None)
    slow = parse_document(text, "s.yaml")
    assert (fast.data, fast.marks, fast.key_marks, fast.problems) == (
        slow.data,
        slow.marks,
        slow.key_marks,
        slow.problems,
    )


# --- problem lists capped -----------------------------------------------------------------------


def test_thousands_of_unknown_keys_list_fifty_and_count_the_rest() -> None:
    """200,000 unknown keys printed 99,993 problems in 47 s."""
    text = CONVNET + "".join(f"  k{i}: 1\n" for i in range(40_000))
    start = time.process_time()
    lines = _problems(text)
    assert time.process_time() - start < 20  # was 30 s on its own
    assert len(lines) == 51
    assert lines[0].startswith("s.yaml:6:3: model.k0: unknown key 'k0' (allowed: family,")
    assert lines[-1] == "  ... and 39,950 more problems"
    with pytest.raises(SpecError, match=r"\(40,000 problems\)"):
        load_spec_text(text, "s.yaml")


# --- every type confusion a located problem -----------------------------------------------------

WRONG = [["ConvNet"], {"a": 1}, [{"a": [1]}], 3, -1, 1.5, "x", None, True, [], {}]
REQUIRED = {"num_spatial_dims": 1, "in_channels": 1, "out_channels": 1, "num_points": 8}


def _base(family: str) -> dict[str, Any]:
    model: dict[str, Any] = {"family": family}
    for arg in FAMILIES[family].all_args:
        if arg.required:
            model[arg.name] = REQUIRED.get(arg.name, arg.default)
    if family == "Sequential":
        model["layers"] = ["relu", {"conv": {"out_channels": 2, "kernel_size": 3}}]
    if family == "GroupCNN":
        model["num_spatial_dims"] = 2  # it rotates the plane
    return {"model": model}


def _variants(family: str) -> list[tuple[str, dict[str, Any]]]:
    base = _base(family)
    out = []
    for value in WRONG:
        for key in ("name", "model", "input", "sweep", "budget"):
            d = copy.deepcopy(base)
            d[key] = value
            out.append((f"{key}={value!r}", d))
        for key in ["family", *(a.name for a in FAMILIES[family].all_args)]:
            d = copy.deepcopy(base)
            d["model"][key] = value
            out.append((f"model.{key}={value!r}", d))
        for section, keys in (
            ("input", ("resolution", "channels", "batch_size", "dtype")),
            ("budget", ("max_params", "max_flops", "receptive_field")),
            ("sweep", ("depth", "input.resolution")),
        ):
            for key in keys:
                d = copy.deepcopy(base)
                d[section] = {key: value}
                out.append((f"{section}.{key}={value!r}", d))
    return out


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_type_confusion_is_a_spec_error(family: str) -> None:
    load_spec_text(yaml.safe_dump(_base(family)), "s.yaml")  # the base is valid
    for label, data in _variants(family):
        try:
            load_spec_text(yaml.safe_dump(data), "s.yaml")
        except ArchinspectError:
            pass
        except Exception as exc:  # pragma: no cover - the failure message names the case
            pytest.fail(f"{family} {label}: {type(exc).__name__}: {exc}")


def test_family_as_a_list_or_mapping() -> None:
    names = ", ".join(FAMILIES)
    for value, shown in (("[ConvNet]", "['ConvNet']"), ("{a: 1}", "{a: 1}")):
        assert _problems(f"model:\n  family: {value}\n") == [
            f"s.yaml:2:11: model.family: must be a family name (one of: {names}), got {shown}"
        ]


# --- names and user text: no markup, no control characters, no encoding errors -----------------


def test_visible() -> None:
    assert visible("plain [/] text é 🙂") == "plain [/] text é 🙂"
    assert visible("a\x1b[31mb\r\n\t\x7f\x85\u202e\ud800") == (
        "a\\x1b[31mb\\r\\n\\t\\x7f\\x85\\u202e\\ud800"
    )
    assert visible("a\nb\x1b", keep="\n") == "a\nb\\x1b"


def _named(tmp_path: Path, name_yaml: str, budget: str = "") -> str:
    path = tmp_path / "n.yaml"
    path.write_text(f"name: {name_yaml}\n{CONVNET}{budget}", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("name_yaml", "shown"),
    [
        ("'[/]'", "[/]"),  # Rich markup: exit 3 ("closing tag '[/]' has nothing to close")
        ("'[link=https://e.x]x[/link]'", "[link=https://e.x]x[/link]"),
        ('"a\\e[31mRED"', "a\\x1b[31mRED"),  # an ANSI escape reached the terminal raw
        ('"a\\ud800b"', "a\\ud800b"),  # a lone surrogate: UnicodeEncodeError, exit 3
        ('"two\\nlines\\u202e"', "two\\nlines\\u202e"),
    ],
    ids=["markup", "link", "ansi", "surrogate", "newline-bidi"],
)
def test_names_are_printed_as_written(tmp_path: Path, name_yaml: str, shown: str) -> None:
    spec = _named(tmp_path, name_yaml)
    table = runner.invoke(app, ["count", spec, "--depth", "0"])
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0] == f"{shown} · ConvNet · 1-D · input 1×64"
    markdown = runner.invoke(app, ["count", spec, "--depth", "0", "--format", "markdown"])
    assert markdown.stdout.splitlines()[0] == f"### {shown} — ConvNet, 1-D, input 1×64"


def test_control_characters_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(CONVNET + '  "bad\\e[2Jkey\\nline": 1\n', encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[1].startswith(
        f"{path}:6:3: model.bad\\x1b[2Jkey\\nline: unknown key 'bad\\x1b[2Jkey\\nline' "
    )
    assert "\x1b" not in result.stderr


def test_csv_cells_are_not_formulas(tmp_path: Path) -> None:
    """`=HYPERLINK(...)` went verbatim into CSV; negative numbers stay numbers."""
    spec = _named(tmp_path, '\'=HYPERLINK("http://x","y")\'', "budget:\n  max_params: 7000\n")
    result = runner.invoke(app, ["check", spec, "--format", "csv"])
    assert result.exit_code == 1
    # headroom (7000 - 7169) / 7000 = -2.414%: a negative number, kept a number (no quote)
    assert result.stdout == (
        "spec,name,budget,limit,actual,headroom_percent,ok,line\n"
        f'{spec},"\'=HYPERLINK(""http://x"",""y"")",max_params,7000,7169,-2.414,False,8\n'
    )


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd", "'+cmd"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\\tx"),
        ("\rx", "'\\rx"),
        ("-17.9", "-17.9"),
        ("-3", "-3"),
        ("+1e6", "+1e6"),
        ("-0.7%", "-0.7%"),
        ("-inf%", "-inf%"),
        ("a=b", "a=b"),
        (-17.9, -17.9),
    ],
)
def test_csv_cell_rule(cell: object, written: object) -> None:
    from archinspect.render.formats.csv import safe_cell

    assert safe_cell(cell) == written


def test_github_annotations_cannot_be_forged(tmp_path: Path) -> None:
    """A key with a newline, and a spec file whose name has one, stay one line each."""
    forged = "x\n::error file=a.py,line=1::forged"
    (tmp_path / "k.yaml").write_text(
        CONVNET + '  "x\\n::error file=a.py,line=1::forged": 3\n', encoding="utf-8"
    )
    (tmp_path / f"{forged}.yaml").write_text(CONVNET, encoding="utf-8")
    result = runner.invoke(
        app, ["check", str(tmp_path / "k.yaml"), str(tmp_path / f"{forged}.yaml"), "-f", "github"]
    )
    lines = result.stdout.splitlines()
    # the spec error, the no-budget warning for the other spec, the summary: three lines
    assert [line.split(" ")[0] for line in lines] == ["::error", "::warning", "0"]
    escaped_dir = str(tmp_path).replace(":", "%3A").replace(",", "%2C")
    assert lines[0] == (
        f"::error file={escaped_dir}/k.yaml,line=6,col=3,title=archinspect spec::"
        "model.x%0A::error file=a.py,line=1::forged: unknown key "
        "'x\\n::error file=a.py,line=1::forged' (allowed: family, num_spatial_dims, in_channels, "
        "out_channels, hidden_channels, depth, kernel_size, activation, final_activation, "
        "use_bias, use_final_bias, boundary_mode)"
    )
    assert lines[1] == (
        f"::warning file={escaped_dir}/x%0A%3A%3Aerror file=a.py%2Cline=1%3A%3Aforged.yaml,"
        "title=archinspect budget::no budget, so nothing was checked (add a `budget:` block to "
        "the spec, or limits on the command line; --require-budget makes this a failure)"
    )
    assert lines[2] == (
        "0 budgets in 0 specs: 0 ok, 0 exceeded; 1 spec(s) could not be checked; no budget in: "
        f"{tmp_path}/x\\n::error file=a.py,line=1::forged.yaml"
    )


def test_junit_has_no_control_characters(tmp_path: Path) -> None:
    """An escape or a lone surrogate in a name made invalid XML (or an encoding error, exit 3)."""
    spec = _named(tmp_path, '"a\\e[31m\\ud800"', "budget:\n  max_params: 7000\n")
    result = runner.invoke(app, ["check", spec, "--format", "junit"])
    assert result.exit_code == 1
    # the name is the testsuite's `name` property (the testcase's classname is the spec file)
    assert '<property name="name" value="a\\x1b[31m\\ud800" />' in result.stdout
    assert f'<testcase classname="{spec}" name="max_params">' in result.stdout
    ET.fromstring(result.stdout.encode("utf-8"))  # well-formed


def test_validate_ok_line_shows_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "x\x1b[31my.yaml"
    path.write_text(CONVNET, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0
    assert result.stdout == f"ok: {tmp_path}/x\\x1b[31my.yaml\n"


def test_plot_title_is_not_mathtext() -> None:
    """A name '$\\frac{$' was a Matplotlib mathtext parse error (exit 3) in `sweep --plot`."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from archinspect.render.plot import _literal

    assert _literal("$\\frac{$\x1b") == "\\$\\frac{\\$\\x1b"
    figure = Figure()
    figure.suptitle(_literal("$\\frac{$: sweep over depth"))
    figure.savefig(io.BytesIO(), format="png")


def test_long_values_are_quoted_shortened() -> None:
    big_list = "[" + ", ".join(["1"] * 5000) + "]"
    long_name = "n" * 5000
    lines = _problems(
        CONVNET.replace("in_channels: 1", f"in_channels: {big_list}") + f"name: [{long_name}]\n"
    )
    assert lines == [
        "s.yaml:4:16: model.in_channels: must be a positive integer, got "
        + ("[" + "1, " * 50)[:MAX_QUOTED]
        + "...",
        f"s.yaml:6:7: name: must be a non-empty string, got ['{'n' * (MAX_QUOTED - 2)}...",
    ]


def test_huge_amount_in_set() -> None:
    result = runner.invoke(
        app, ["validate", "configs/convnet.yaml", "--set", "budget.max_params=1e999999"]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: configs/convnet.yaml is not a valid archinspect spec (1 problem)\n"
        f"--set budget.max_params=1e999999: budget.max_params: {TOO_LARGE}; got '1e999999'\n"
    )
