"""Per-layer shapes (`archinspect shapes`), derived by hand, for every family in 1-, 2- and 3-D.

Everything here is abstract (`eqx.filter_eval_shape`): nothing is compiled, no weight exists.
The expected tables are written from the architectures' definitions, not from archinspect:

- every spatial conv is "same"-padded with stride 1 (n cells stay n cells, any kernel size,
  odd or even, any boundary mode); a UNet's down-sampling conv has stride 2 (n -> n/2), its
  UpConv doubles (n -> 2n);
- UNet channels: width[0] = hidden, width[i+1] = hidden * multiplier[i] (ClassicUNet: 2**(i+1));
  level i's down conv keeps width[i] and halves the size; its left-arc block maps to
  width[i+1]; its UpConv maps width[i+1] to width[i+1] // 2 and doubles the size; the first
  right-arc block sees that concatenated with the skip (width[i] channels), and maps to width[i];
- a module called several times is one row with its call count and its parameters once.
"""

from __future__ import annotations

import csv
import io
import json

import equinox as eqx
import jax
import pytest
import yaml
from typer.testing import CliRunner

from archinspect.cli import app
from archinspect.commands.inspect import inspect_report
from archinspect.errors import SpecError
from archinspect.layers.conv import Conv
from archinspect.spec import load_spec_text

runner = CliRunner()

Row = tuple[str, str, tuple[int, ...], tuple[int, ...]]  # path, type, input, output


def spec_of(model: dict, **inp):
    text = yaml.safe_dump({"model": model, "input": inp} if inp else {"model": model})
    return load_spec_text(text, "test.yaml")


def report_of(model: dict, depth: int | None = None, trusted=(), **inp):
    """Shapes only (costs=False): nothing is compiled."""
    return inspect_report(spec_of(model, **inp), depth=depth, trusted=trusted, costs=False)


def table(report) -> list[Row]:
    """(path, type, input, output) of every row; every row here has one input and one output."""
    out = []
    for r in report.layers:
        assert len(r.input_shapes) == 1 and len(r.output_shapes) == 1, r
        out.append((r.path, r.type, r.input_shapes[0], r.output_shapes[0]))
    return out


def conv_params(ci: int, co: int, kernel_cells: int, bias: bool = True) -> int:
    return co * ci * kernel_cells + (co if bias else 0)


# ---------------------------------------------------------------------------------------------
# 2-D ClassicUNet, hidden 16, 4 levels, 128x128 (configs/unet.yaml), written out in full.
# Top-level rows in call order, with their parameters (conv(ci, co) = 9*ci*co + co, a double
# conv block adds two GroupNorms of 2*co each; the same figures as tests/test_cli.py).
# ---------------------------------------------------------------------------------------------
DCB = "ClassicDoubleConvBlock"
UNET_128_TOP: list[tuple[str, str, tuple[int, ...], tuple[int, ...], int]] = [
    ("lifting", DCB, (1, 128, 128), (16, 128, 128), 2_544),
    ("down_sampling_blocks[0]", "Conv", (16, 128, 128), (16, 64, 64), 2_320),
    ("left_arc_blocks[0][0]", DCB, (16, 64, 64), (32, 64, 64), 14_016),
    ("down_sampling_blocks[1]", "Conv", (32, 64, 64), (32, 32, 32), 9_248),
    ("left_arc_blocks[1][0]", DCB, (32, 32, 32), (64, 32, 32), 55_680),
    ("down_sampling_blocks[2]", "Conv", (64, 32, 32), (64, 16, 16), 36_928),
    ("left_arc_blocks[2][0]", DCB, (64, 16, 16), (128, 16, 16), 221_952),
    ("down_sampling_blocks[3]", "Conv", (128, 16, 16), (128, 8, 8), 147_584),
    ("left_arc_blocks[3][0]", DCB, (128, 8, 8), (256, 8, 8), 886_272),
    # up: 256 -> 128 channels, 8 -> 16 cells; concatenated with the 128-channel skip: 256
    ("up_sampling_blocks[3]", "UpConv", (256, 8, 8), (128, 16, 16), 295_040),
    ("right_arc_blocks[3][0]", DCB, (256, 16, 16), (128, 16, 16), 443_136),
    ("up_sampling_blocks[2]", "UpConv", (128, 16, 16), (64, 32, 32), 73_792),
    ("right_arc_blocks[2][0]", DCB, (128, 32, 32), (64, 32, 32), 110_976),
    ("up_sampling_blocks[1]", "UpConv", (64, 32, 32), (32, 64, 64), 18_464),
    ("right_arc_blocks[1][0]", DCB, (64, 64, 64), (32, 64, 64), 27_840),
    ("up_sampling_blocks[0]", "UpConv", (32, 64, 64), (16, 128, 128), 4_624),
    ("right_arc_blocks[0][0]", DCB, (32, 128, 128), (16, 128, 128), 7_008),
    ("projection", "Conv", (16, 128, 128), (1, 128, 128), 17),
]
UNET_128_TOTAL = 2_357_441

UNET_MODEL = {
    "family": "ClassicUNet",
    "num_spatial_dims": 2,
    "in_channels": 1,
    "out_channels": 1,
    "hidden_channels": 16,
    "num_levels": 4,
}


@pytest.fixture(scope="module")
def unet_128():
    return report_of(UNET_MODEL, resolution=128)


class TestClassicUNet2D:
    @pytest.fixture
    def report(self, unet_128):
        return unet_128

    def test_top_level_rows_in_call_order(self, report):
        top = [r for r in report.layers if r.depth == 1]
        got = [(r.path, r.type, r.input_shapes[0], r.output_shapes[0], r.params) for r in top]
        assert got == UNET_128_TOP
        assert sum(row[4] for row in UNET_128_TOP) == UNET_128_TOTAL

    def test_root_row(self, report):
        root = report.layers[0]
        assert (root.path, root.type, root.depth, root.calls) == ("", "ClassicUNet", 0, 1)
        assert root.input_shapes == ((1, 128, 128),)
        assert root.output_shapes == ((1, 128, 128),)
        assert root.params == UNET_128_TOTAL
        assert report.input_shape == (1, 128, 128)
        assert report.output_shape == (1, 128, 128)
        assert report.params.total == UNET_128_TOTAL

    def test_block_internals(self, report):
        rows = {r.path: r for r in report.layers}
        # the coarsest right-arc block: 256 channels in (128 up-sampled + 128 skip), 128 out
        inner = [
            ("right_arc_blocks[3][0].conv_1", "Conv", (256, 16, 16), (128, 16, 16), 295_040),
            ("right_arc_blocks[3][0].norm_1", "GroupNorm", (128, 16, 16), (128, 16, 16), 256),
            ("right_arc_blocks[3][0].conv_2", "Conv", (128, 16, 16), (128, 16, 16), 147_584),
            ("right_arc_blocks[3][0].norm_2", "GroupNorm", (128, 16, 16), (128, 16, 16), 256),
            ("lifting.conv_1", "Conv", (1, 128, 128), (16, 128, 128), 160),
            ("lifting.conv_2", "Conv", (16, 128, 128), (16, 128, 128), 2_320),
        ]
        for path, type_, i, o, params in inner:
            r = rows[path]
            assert (r.type, r.input_shapes, r.output_shapes, r.params) == (
                type_,
                (i,),
                (o,),
                params,
            )
            assert r.depth == 2 and r.calls == 1
        # every module of the tree was called once: 1 root + 18 top rows + 9 blocks * 4 inside
        assert len(report.layers) == 1 + 18 + 9 * 4
        assert all(r.calls == 1 for r in report.layers)

    def test_non_power_of_two_but_divisible_resolution(self):
        # 48 = 3 * 16: 48 -> 24 -> 12 -> 6 -> 3 cells; the coarsest level is 256 x 3 x 3
        report = report_of(UNET_MODEL, resolution=[48, 48], depth=1)
        rows = {r.path: (r.input_shapes[0], r.output_shapes[0]) for r in report.layers}
        assert rows["left_arc_blocks[3][0]"] == ((128, 3, 3), (256, 3, 3))
        assert rows["up_sampling_blocks[3]"] == ((256, 3, 3), (128, 6, 6))
        assert rows["right_arc_blocks[3][0]"] == ((256, 6, 6), (128, 6, 6))
        assert report.output_shape == (1, 48, 48)


def unet_top_rows(
    block: str,
    ci: int,
    co: int,
    hidden: int,
    multipliers: list[int],
    num_blocks: int,
    res: tuple[int, ...],
) -> list[Row]:
    """The depth-1 rows of a UNet from the rules in the module docstring."""
    width = [hidden] + [hidden * m for m in multipliers]

    def size(level: int) -> tuple[int, ...]:
        return tuple(n // 2**level for n in res)

    rows: list[Row] = [("lifting", block, (ci, *size(0)), (hidden, *size(0)))]
    for i in range(len(multipliers)):
        rows.append(
            (f"down_sampling_blocks[{i}]", "Conv", (width[i], *size(i)), (width[i], *size(i + 1)))
        )
        for b in range(num_blocks):
            c_in = width[i] if b == 0 else width[i + 1]
            rows.append(
                (
                    f"left_arc_blocks[{i}][{b}]",
                    block,
                    (c_in, *size(i + 1)),
                    (width[i + 1], *size(i + 1)),
                )
            )
    for i in reversed(range(len(multipliers))):
        up = width[i + 1] // 2
        rows.append(
            (f"up_sampling_blocks[{i}]", "UpConv", (width[i + 1], *size(i + 1)), (up, *size(i)))
        )
        for b in range(num_blocks):
            c_in = up + width[i] if b == 0 else width[i]
            rows.append(
                (f"right_arc_blocks[{i}][{b}]", block, (c_in, *size(i)), (width[i], *size(i)))
            )
    rows.append(("projection", "Conv", (hidden, *size(0)), (co, *size(0))))
    return rows


def test_unet_rule_reproduces_the_literal_2d_table():
    """The generic rule used below agrees with the table written out by hand above."""
    rows = unet_top_rows(DCB, 1, 1, 16, [2, 4, 8, 16], 1, (128, 128))
    assert rows == [row[:4] for row in UNET_128_TOP]


UNET_CASES = [
    # (family, dims, resolution, kwargs, multipliers, num_blocks)
    ("ClassicUNet", 1, (12,), dict(hidden_channels=4, num_levels=2), [2, 4], 1),
    ("ClassicUNet", 1, (64,), dict(hidden_channels=2, num_levels=4), [2, 4, 8, 16], 1),
    ("ClassicUNet", 2, (16, 8), dict(hidden_channels=3, num_levels=3), [2, 4, 8], 1),
    ("ClassicUNet", 3, (8, 4, 12), dict(hidden_channels=2, num_levels=2), [2, 4], 1),
    ("ClassicUNet", 3, (6, 6, 6), dict(hidden_channels=2, num_levels=1), [2], 1),
    (
        "ModernUNet",
        1,
        (12,),
        dict(hidden_channels=3, num_levels=2, num_blocks=2, channel_multipliers=[1, 3]),
        [1, 3],
        2,
    ),
    ("ModernUNet", 2, (8, 8), dict(hidden_channels=2, num_levels=2, num_blocks=1), [2, 4], 1),
    (
        "ModernUNet",
        3,
        (4, 8, 4),
        dict(hidden_channels=5, num_levels=1, num_blocks=3, channel_multipliers=[3]),
        [3],
        3,
    ),
]


@pytest.mark.parametrize(
    ("family", "dims", "res", "kwargs", "mult", "nb"),
    UNET_CASES,
    ids=[f"{c[0]}-{c[1]}d-{'x'.join(map(str, c[2]))}" for c in UNET_CASES],
)
def test_unet_down_and_up_path(family, dims, res, kwargs, mult, nb):
    model = {"family": family, "num_spatial_dims": dims, "in_channels": 2, "out_channels": 3}
    report = report_of({**model, **kwargs}, resolution=list(res), depth=1)
    block = "ClassicDoubleConvBlock" if family == "ClassicUNet" else "ModernResBlock"
    expected = unet_top_rows(block, 2, 3, kwargs["hidden_channels"], mult, nb, res)
    assert table(report)[1:] == expected
    assert table(report)[0] == ("", family, (2, *res), (3, *res))


def test_modern_res_block_internals_with_a_channel_change():
    """right_arc_blocks[1][0] of a 1-D ModernUNet(hidden 3, multipliers [1, 3]) at 12 cells:
    up-sampled 9 -> 4 channels plus the 3-channel skip = 7 in, 3 out, at 6 cells. Pre-activation
    order: norm_1 (input channels), conv_1, norm_2, conv_2, then the bypass: norm, 1x1 conv."""
    model = dict(UNET_CASES[5][3], family="ModernUNet", num_spatial_dims=1)
    report = report_of({**model, "in_channels": 2, "out_channels": 3}, resolution=12)
    prefix = "right_arc_blocks[1][0]"
    rows = [r for r in table(report) if r[0].startswith(prefix + ".")]
    assert rows == [
        (f"{prefix}.norm_1", "GroupNorm", (7, 6), (7, 6)),
        (f"{prefix}.conv_1", "Conv", (7, 6), (3, 6)),
        (f"{prefix}.norm_2", "GroupNorm", (3, 6), (3, 6)),
        (f"{prefix}.conv_2", "Conv", (3, 6), (3, 6)),
        (f"{prefix}.bypass_norm", "GroupNorm", (7, 6), (7, 6)),
        (f"{prefix}.bypass_conv", "Conv", (7, 6), (3, 6)),
    ]
    params = {r.path: r.params for r in report.layers}
    assert params[f"{prefix}.conv_1"] == conv_params(7, 3, 3)  # 66
    assert params[f"{prefix}.bypass_conv"] == conv_params(7, 3, 1, bias=False)  # 21
    assert params[prefix] == 14 + 66 + 6 + 30 + 14 + 21


def test_unet_with_zero_levels_takes_any_resolution():
    model = {**UNET_MODEL, "num_levels": 0, "hidden_channels": 4}
    report = report_of(model, resolution=[7, 5], depth=1)
    assert table(report) == [
        ("", "ClassicUNet", (1, 7, 5), (1, 7, 5)),
        ("lifting", DCB, (1, 7, 5), (4, 7, 5)),
        ("projection", "Conv", (4, 7, 5), (1, 7, 5)),
    ]


# ---------------------------------------------------------------------------------------------
# Resolutions a UNet cannot take; too few cells for an FNO's modes.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "res", "factor", "near"),
    [
        (4, [100, 100], 16, "96 or 112"),  # even, but not divisible by 16: 6 * 16 < 100 < 7 * 16
        (4, [128, 100], 16, "96 or 112"),  # one axis fine, the other not
        (4, [127, 127], 16, "112 or 128"),  # odd
        (1, [9, 8], 2, "8 or 10"),  # odd on one axis, a single level
        (2, [6, 8], 4, "4 or 8"),
    ],
)
def test_unet_resolution_not_divisible_by_two_to_the_levels(levels, res, factor, near):
    """The model's forward pass would raise ValueError; the family's declared input rule
    refuses the spec first (exit 2), at input.resolution, with the rule and sizes it takes."""
    model = {**UNET_MODEL, "num_levels": levels, "hidden_channels": 2}
    with pytest.raises(SpecError, match="is not a valid archinspect spec") as info:
        spec_of(model, resolution=res)
    assert info.value.exit_code == 2
    assert [(p.path, p.message) for p in info.value.problems] == [
        (
            "input.resolution",
            f"a ClassicUNet with num_levels={levels} needs every spatial size divisible by "
            f"2**{levels} = {factor} (e.g. {near}), got {res}",
        )
    ]
    # the nearest sizes it takes do build and run
    fine = [int(near.split(" or ")[1])] * len(res)
    assert report_of(model, resolution=fine).output_shape == (1, *fine)


@pytest.mark.usefixtures("repo_root")
@pytest.mark.parametrize("command", ["shapes", "inspect"])
@pytest.mark.parametrize("resolution", ["100", "[96,100]", "127"])
def test_cli_non_divisible_unet_resolution_is_exit_2(command, resolution):
    result = runner.invoke(
        app, [command, "configs/unet.yaml", "--set", f"input.resolution={resolution}"]
    )
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(
        "error: configs/unet.yaml is not a valid archinspect spec (1 problem)\n"
        f"--set input.resolution={resolution}: input.resolution: a ClassicUNet with "
        "num_levels=4 needs every spatial size divisible by 2**4 = 16"
    )
    assert "Traceback" not in result.stderr


def test_odd_resolution_is_fine_for_stride_one_families():
    """Every non-UNet conv family keeps any size, odd included (same padding, stride 1)."""
    for family, kw in [
        ("ConvNet", dict(depth=1, hidden_channels=2, kernel_size=4)),
        ("ClassicResNet", dict(num_blocks=1, hidden_channels=2)),
        ("DilatedResNet", dict(num_blocks=1, hidden_channels=2, dilation_rates=[1, 8])),
    ]:
        model = {"family": family, "num_spatial_dims": 2, "in_channels": 1, "out_channels": 1}
        report = report_of({**model, **kw}, resolution=[7, 3])
        assert report.output_shape == (1, 7, 3)
        assert all(r.output_shapes[0][1:] == (7, 3) for r in report.layers), family


FNO = {"family": "ClassicFNO", "in_channels": 1, "out_channels": 1, "hidden_channels": 2}


@pytest.mark.parametrize(
    ("dims", "modes", "res", "smallest"),
    [
        # the last axis keeps modes 0..m-1 of the one-sided rfft, which has n//2 + 1 bins:
        # n >= 2m - 2
        (1, 5, [7], [8]),
        (1, 12, [20], [22]),
        (2, 3, [6, 3], [6, 4]),
        # every other axis keeps m positive and m negative frequencies: n >= 2m
        (2, 3, [5, 8], [6, 8]),
        (3, 2, [4, 3, 8], [4, 4, 8]),
    ],
)
def test_fno_with_too_few_cells_for_its_modes(dims, modes, res, smallest):
    model = {**FNO, "num_spatial_dims": dims, "num_modes": modes, "num_blocks": 1}
    with pytest.raises(SpecError, match="is not a valid archinspect spec") as info:
        spec_of(model, resolution=res)
    assert info.value.exit_code == 2
    if dims == 1:
        allowed = (
            f"at least {2 * modes - 2} cells (the real FFT's n // 2 + 1 >= {modes} frequencies)"
        )
    else:
        allowed = (
            f"at least {2 * modes} cells on every axis but the last (n // 2 >= {modes} "
            f"frequencies each side of zero) and {2 * modes - 2} on the last (the real FFT's "
            f"n // 2 + 1 >= {modes})"
        )
    assert [(p.path, p.message) for p in info.value.problems] == [
        (
            "input.resolution",
            f"a ClassicFNO with num_modes={modes} needs {allowed}, got {res}",
        )
    ]
    # one cell more on that axis is enough
    assert report_of(model, resolution=smallest).output_shape == (1, *smallest)


def test_fno_message_states_the_smallest_working_size():
    model = {**FNO, "num_spatial_dims": 1, "num_modes": 5, "num_blocks": 1}
    assert report_of(model, resolution=8).output_shape == (1, 8)  # 8 cells work
    with pytest.raises(SpecError, match=r"needs at least 8 cells .*, got 7"):
        spec_of(model, resolution=7)


# ---------------------------------------------------------------------------------------------
# The other families, by hand.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dims", "res", "kw"),
    [
        (1, (10,), dict(hidden_channels=4, depth=2, kernel_size=3)),
        (1, (7,), dict(hidden_channels=5, depth=0, kernel_size=4)),
        (2, (9, 6), dict(hidden_channels=3, depth=3, kernel_size=5, boundary_mode="dirichlet")),
        (3, (4, 5, 3), dict(hidden_channels=2, depth=1, kernel_size=2, boundary_mode="neumann")),
    ],
)
def test_convnet(dims, res, kw):
    model = {"family": "ConvNet", "num_spatial_dims": dims, "in_channels": 2, "out_channels": 3}
    report = report_of({**model, **kw}, resolution=list(res))
    h, depth = kw["hidden_channels"], kw["depth"]
    widths = [2] + [h] * depth + [3]  # depth + 1 convs
    assert table(report) == [("", "ConvNet", (2, *res), (3, *res))] + [
        (f"layers[{i}]", "Conv", (widths[i], *res), (widths[i + 1], *res)) for i in range(depth + 1)
    ]
    cells = kw["kernel_size"] ** dims
    assert [r.params for r in report.layers[1:]] == [
        conv_params(widths[i], widths[i + 1], cells) for i in range(depth + 1)
    ]


@pytest.mark.parametrize(
    ("family", "dims", "res", "kw"),
    [
        ("ClassicResNet", 1, (16,), dict(hidden_channels=4, num_blocks=2)),
        ("ClassicResNet", 2, (6, 10), dict(hidden_channels=3, num_blocks=1, use_norm=True)),
        ("ModernResNet", 3, (4, 4, 6), dict(hidden_channels=2, num_blocks=2)),
        ("ModernResNet", 1, (5,), dict(hidden_channels=3, num_blocks=1, use_norm=False)),
    ],
)
def test_resnets(family, dims, res, kw):
    model = {"family": family, "num_spatial_dims": dims, "in_channels": 2, "out_channels": 3}
    report = report_of({**model, **kw}, resolution=list(res))
    h = kw["hidden_channels"]
    hid = (h, *res)
    classic = family == "ClassicResNet"
    norms = kw.get("use_norm", not classic)
    block = "ClassicResBlock" if classic else "ModernResBlock"
    expected: list[Row] = [("", family, (2, *res), (3, *res)), ("lifting", "Conv", (2, *res), hid)]
    for b in range(kw["num_blocks"]):
        p = f"blocks[{b}]"
        expected.append((p, block, hid, hid))
        if classic:  # post-activation: conv, norm, conv, norm
            inner = ["conv_1", "norm_1", "conv_2", "norm_2"]
        else:  # pre-activation: norm, conv, norm, conv
            inner = ["norm_1", "conv_1", "norm_2", "conv_2"]
        for name in inner:
            if name.startswith("norm") and not norms:
                continue  # a switched-off norm is None: never called, no row
            kind = "Conv" if name.startswith("conv") else "GroupNorm"
            expected.append((f"{p}.{name}", kind, hid, hid))
    expected.append(("projection", "Conv", hid, (3, *res)))
    assert table(report) == expected
    # constant width: no bypass conv anywhere
    assert not any("bypass" in r.path for r in report.layers)


@pytest.mark.parametrize(
    ("dims", "res", "modes"),
    [(1, (16,), 4), (2, (12, 10), 3), (3, (8, 6, 4), 2)],
)
def test_fno(dims, res, modes):
    model = {**FNO, "num_spatial_dims": dims, "hidden_channels": 3, "in_channels": 2}
    report = report_of(
        {**model, "out_channels": 4, "num_modes": modes, "num_blocks": 2}, resolution=list(res)
    )
    hid = (3, *res)
    expected: list[Row] = [
        ("", "ClassicFNO", (2, *res), (4, *res)),
        ("lifting", "Conv", (2, *res), hid),
    ]
    for b in range(2):
        expected += [
            (f"blocks[{b}]", "SpectralBlock", hid, hid),
            (f"blocks[{b}].spectral_conv", "SpectralConv", hid, hid),
            (f"blocks[{b}].by_pass_conv", "Conv", hid, hid),
        ]
    expected.append(("projection", "Conv", hid, (4, *res)))
    assert table(report) == expected
    # 2**(d-1) complex blocks of in*out*m**d, two real parameters each
    spectral = report.layers[3]
    assert spectral.params == 2 * 2 ** (dims - 1) * 3 * 3 * modes**dims


@pytest.mark.parametrize(
    ("dims", "res", "rates", "use_norm"),
    [(1, (9,), [1, 2, 4], True), (2, (5, 7), [3, 1], False), (3, (4, 4, 4), [1], True)],
)
def test_dilated_resnet(dims, res, rates, use_norm):
    model = {
        "family": "DilatedResNet",
        "num_spatial_dims": dims,
        "in_channels": 1,
        "out_channels": 2,
    }
    kw = dict(hidden_channels=3, num_blocks=2, dilation_rates=rates, use_norm=use_norm)
    report = report_of({**model, **kw}, resolution=list(res))
    hid = (3, *res)
    expected: list[Row] = [
        ("", "DilatedResNet", (1, *res), (2, *res)),
        ("lifting", "Conv", (1, *res), hid),
    ]
    for b in range(2):
        expected.append((f"blocks[{b}]", "DilatedResBlock", hid, hid))
        for j in range(len(rates)):
            if use_norm:
                expected.append((f"blocks[{b}].norm_layers[{j}]", "GroupNorm", hid, hid))
            expected.append((f"blocks[{b}].conv_layers[{j}]", "Conv", hid, hid))
    expected.append(("projection", "Conv", hid, (2, *res)))
    assert table(report) == expected


@pytest.mark.parametrize(("dims", "points", "depth"), [(1, 8, 3), (2, 4, 2), (3, 3, 0)])
def test_mlp(dims, points, depth):
    model = {"family": "MLP", "num_spatial_dims": dims, "in_channels": 2, "out_channels": 3}
    report = report_of({**model, "num_points": points, "width_size": 5, "depth": depth})
    field = (points,) * dims
    flat_in, flat_out = 2 * points**dims, 3 * points**dims
    sizes = [flat_in] + [5] * depth + [flat_out]
    assert table(report) == [
        ("", "MLP", (2, *field), (3, *field)),
        ("flat_mlp", "MLP", (flat_in,), (flat_out,)),
    ] + [
        (f"flat_mlp.layers[{i}]", "Linear", (sizes[i],), (sizes[i + 1],)) for i in range(depth + 1)
    ]
    assert report.layers[0].params == sum(
        sizes[i] * sizes[i + 1] + sizes[i + 1] for i in range(depth + 1)
    )


# ---------------------------------------------------------------------------------------------
# --depth folding
# ---------------------------------------------------------------------------------------------

SMALL_UNET = {**UNET_MODEL, "hidden_channels": 4}


@pytest.fixture(scope="module")
def small_unet_unfolded():
    return report_of(SMALL_UNET, resolution=16, depth=None)


class TestDepthFolding:
    @pytest.fixture
    def full(self, small_unet_unfolded):
        return small_unet_unfolded

    def test_depth_zero_keeps_only_the_root(self, full):
        folded = report_of(SMALL_UNET, resolution=16, depth=0)
        assert len(full.layers) == 55  # 1 + lifting(1+4) + 4 levels * (1 + 5 + 1 + 5) + 1
        assert [(r.path, r.folded) for r in folded.layers] == [("", 54)]
        assert folded.layers[0].params == full.layers[0].params == 148_289

    def test_depth_one_folds_block_internals(self, full):
        folded = report_of(SMALL_UNET, resolution=16, depth=1)
        assert len(folded.layers) == 1 + 18
        by_path = {r.path: r for r in full.layers}
        for r in folded.layers:
            # parents' params, shapes and calls never change when deeper rows fold into them
            original = by_path[r.path]
            assert (r.params, r.input_shapes, r.output_shapes, r.calls) == (
                original.params,
                original.input_shapes,
                original.output_shapes,
                original.calls,
            )
            expected = 4 if r.type == DCB else 0  # conv_1, norm_1, conv_2, norm_2
            assert r.folded == expected, r.path
        assert folded.layers[0].path == "" and folded.layers[0].folded == 0

    def test_depth_at_or_beyond_the_deepest_row_folds_nothing(self, full):
        for depth in (2, 9):
            folded = report_of(SMALL_UNET, resolution=16, depth=depth)
            assert folded.layers == full.layers

    def test_folded_counts_add_up(self, full):
        for depth in (0, 1):
            folded = report_of(SMALL_UNET, resolution=16, depth=depth)
            assert len(folded.layers) + sum(r.folded for r in folded.layers) == len(full.layers)


# ---------------------------------------------------------------------------------------------
# A module called several times (shared weights), loaded through `target:`.
# ---------------------------------------------------------------------------------------------


class SharedNet(eqx.Module):
    """One 3-conv applied three times (weights shared), then a 1x1 head. Loaded in the tests
    as `tests.test_shapes:SharedNet`, which needs `--trust tests`."""

    conv: Conv
    head: Conv

    def __init__(self, num_spatial_dims: int, in_channels: int, out_channels: int, *, key):
        k1, k2 = jax.random.split(key)
        self.conv = Conv(num_spatial_dims, in_channels, in_channels, 3, key=k1)
        self.head = Conv(num_spatial_dims, in_channels, out_channels, 1, key=k2)

    def __call__(self, x: jax.Array) -> jax.Array:
        for _ in range(3):
            x = jax.nn.relu(self.conv(x))
        return self.head(x)


SHARED = {
    "target": "tests.test_shapes:SharedNet",
    "num_spatial_dims": 2,
    "in_channels": 4,
    "out_channels": 2,
}
SHARED_CONV = conv_params(4, 4, 9)  # 148
SHARED_HEAD = conv_params(4, 2, 1)  # 10


def test_shared_module_is_one_row_with_three_calls():
    report = report_of(SHARED, trusted=("tests",), resolution=[6, 5])
    assert [(r.path, r.type, r.calls, r.params) for r in report.layers] == [
        ("", "SharedNet", 1, SHARED_CONV + SHARED_HEAD),  # the shared conv counted once
        ("conv", "Conv", 3, SHARED_CONV),
        ("head", "Conv", 1, SHARED_HEAD),
    ]
    assert table(report) == [
        ("", "SharedNet", (4, 6, 5), (2, 6, 5)),
        ("conv", "Conv", (4, 6, 5), (4, 6, 5)),
        ("head", "Conv", (4, 6, 5), (2, 6, 5)),
    ]
    assert report.params.total == 158
    assert report.family == "SharedNet"


@pytest.mark.usefixtures("repo_root")
def test_shared_module_through_the_cli(tmp_path):
    spec = tmp_path / "shared.yaml"
    spec.write_text(yaml.safe_dump({"model": SHARED, "input": {"resolution": [6, 5]}}))
    result = runner.invoke(app, ["shapes", str(spec), "--trust", "tests", "-f", "json"])
    assert result.exit_code == 0, result.output
    layers = json.loads(result.stdout)["layers"]
    assert [(r["path"], r["calls"], r["params"]) for r in layers] == [
        ("", 1, 158),
        ("conv", 3, 148),
        ("head", 1, 10),
    ]
    # without --trust the test package is refused (tests is not trusted by default)
    refused = runner.invoke(app, ["shapes", str(spec)])
    assert refused.exit_code == 2
    assert "is not trusted" in refused.stderr and "--trust tests" in refused.stderr


# ---------------------------------------------------------------------------------------------
# The same shapes through the CLI in every format.
# ---------------------------------------------------------------------------------------------

# configs/convnet.yaml with depth 2, hidden 4, at 10 cells: 1 -> 4 -> 4 -> 1 channels
CONVNET_ARGS = [
    "configs/convnet.yaml",
    "--set",
    "model.depth=2",
    "--set",
    "model.hidden_channels=4",
    "--set",
    "input.resolution=10",
]
CONVNET_ROWS = [
    ("", "ConvNet", [1, 10], [1, 10], 16 + 52 + 13),
    ("layers[0]", "Conv", [1, 10], [4, 10], conv_params(1, 4, 3)),  # 16
    ("layers[1]", "Conv", [4, 10], [4, 10], conv_params(4, 4, 3)),  # 52
    ("layers[2]", "Conv", [4, 10], [1, 10], conv_params(4, 1, 3)),  # 13
]


def test_convnet_rows_add_up():
    assert CONVNET_ROWS[0][4] == sum(r[4] for r in CONVNET_ROWS[1:]) == 81


@pytest.mark.usefixtures("repo_root")
class TestShapesCommand:
    def invoke(self, *extra: str):
        result = runner.invoke(app, ["shapes", *CONVNET_ARGS, *extra])
        assert result.exit_code == 0, result.output
        return result.stdout

    def test_json(self):
        data = json.loads(self.invoke("--format", "json"))
        assert data["input_shape"] == [1, 10]
        assert data["output_shape"] == [1, 10]
        assert data["name"] == "convnet-1d"
        assert data["family"] == "ConvNet"
        assert data["spec"] == "configs/convnet.yaml"
        for row in data["layers"]:
            assert {"path", "type", "input_shape", "output_shape", "params"} <= set(row)
        got = [
            (r["path"], r["type"], r["input_shape"], r["output_shape"], r["params"])
            for r in data["layers"]
        ]
        assert got == CONVNET_ROWS
        # shapes is the layers part only: nothing compiled, no FLOPs or memory
        assert "flops" not in data and "memory" not in data
        assert all("flops" not in r for r in data["layers"])

    def test_csv(self):
        rows = list(csv.DictReader(io.StringIO(self.invoke("--format", "csv"))))
        got = [
            (r["path"], r["type"], r["input_shape"], r["output_shape"], int(r["params"]))
            for r in rows
        ]
        assert got == [
            (p, t, "x".join(map(str, i)), "x".join(map(str, o)), n)
            for p, t, i, o, n in CONVNET_ROWS
        ]
        assert {r["calls"] for r in rows} == {"1"}

    def test_markdown(self):
        text = self.invoke("--format", "markdown")
        lines = text.splitlines()
        assert lines[0].startswith(
            "### convnet-1d — ConvNet, input 1×10 → output 1×10, batch 1, float32, "
        )
        # the last column is the cumulative receptive field: one more 3-conv, one more cell;
        # each conv: 3 taps, stride 1, one periodic cell each side
        header = (
            "| module | type | input | output | kernel | stride | padding | params | calls | RF |"
        )
        assert header in lines
        conv = "| 3 | 1 | (1,1) circular |"
        assert f"| &nbsp;&nbsp;layers[0] | Conv | 1×10 | 4×10 {conv} 16 | 1 | (1,1) |" in lines
        assert f"| &nbsp;&nbsp;layers[1] | Conv | 4×10 | 4×10 {conv} 52 | 1 | (2,2) |" in lines
        assert f"| &nbsp;&nbsp;layers[2] | Conv | 4×10 | 1×10 {conv} 13 | 1 | (3,3) |" in lines

    def test_table(self):
        text = self.invoke()  # table is the default format
        assert "input 1×10 → output 1×10" in text
        for depth, (path, type_, i, o, n) in enumerate(CONVNET_ROWS[1:], start=1):
            line = next(line for line in text.splitlines() if f" {path} " in line)
            cells = [c.strip() for c in line.strip("│ \n").split("│")]
            shapes = ["×".join(map(str, i)), "×".join(map(str, o))]
            conv = ["3", "1", "(1,1) circular"]
            assert cells == [path, type_, *shapes, *conv, str(n), "1", f"({depth},{depth})"]


@pytest.mark.usefixtures("repo_root")
def test_unet_shapes_json_matches_the_hand_table():
    result = runner.invoke(app, ["shapes", "configs/unet.yaml", "--format", "json", "--depth", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["input_shape"] == [1, 128, 128]
    assert data["output_shape"] == [1, 128, 128]
    got = [
        (r["path"], r["type"], tuple(r["input_shape"]), tuple(r["output_shape"]), r["params"])
        for r in data["layers"][1:]
    ]
    assert got == UNET_128_TOP
    assert data["layers"][0]["params"] == UNET_128_TOTAL
