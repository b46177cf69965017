"""`archinspect solve`: the largest value within maximum limits, or the smallest that reaches a
minimum receptive field. Every answer is checked by counting the answer and the next value
independently: `count --set ... -f json` for parameters, `inspect --set ... -f json` for FLOPs,
pdequinox's own (exact, for a ConvNet) receptive field, and hand-derived arithmetic.

Hand formulas (a k-conv in 1-D from a to b channels has b*a*k + b parameters):
- ConvNet, 1-D, in = out = 1, width h, depth D, kernel k: lifting k*h + h, D-1 hidden convs
  k*h*h + h, projection k*h + 1; receptive field (D+1)*(k-1)/2 per side for odd k.
  With k=3, D=10: 27h^2 + 16h + 1. With h=16, k=5: 1296D - 1119.
- The tiny model (D=1 over 8 cells): 7h + 1 parameters and 112h + 8 FLOPs (XLA: 2 per
  multiply-add): lifting 2*3*h*8 + bias 8h, relu 8h, projection 2*3*h*8 + bias 8.
"""

from __future__ import annotations

import json

import equinox as eqx
import jax
import pdequinox as pdeqx
import pytest
from typer.testing import CliRunner

from archinspect.cli import app
from archinspect.errors import UsageError

runner = CliRunner()

SOLVE_KEYS = {
    "name",
    "spec",
    "param",
    "direction",
    "limits",
    "value",
    "metric",
    "next_value",
    "next_metric",
    "binding",
    "next_error",
    "probes",
    "stopped",
}


def invoke(*args: str):
    return runner.invoke(app, list(args))


def solve_json(*args: str, exit_code: int = 0) -> dict:
    result = invoke("solve", *args, "--format", "json")
    assert result.exit_code == exit_code, result.output
    data = json.loads(result.stdout)
    assert set(data) == SOLVE_KEYS
    return data


def counted(spec: str, *sets: str) -> int:
    """Total parameters by `count`, independently of solve's search."""
    args = [a for s in sets for a in ("--set", s)]
    result = invoke("count", spec, *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["params"]["total"]


def inspected_flops(spec: str, *sets: str) -> int:
    args = [a for s in sets for a in ("--set", s)]
    result = invoke("inspect", spec, *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["flops"]["forward"]


def pdequinox_convnet_rf(depth: int, kernel_size: int) -> tuple:
    """pdequinox's analytic receptive field of its ConvNet (exact for a plain conv stack)."""
    model = eqx.filter_eval_shape(
        pdeqx.arch.ConvNet,
        1,
        1,
        1,
        hidden_channels=16,
        depth=depth,
        kernel_size=kernel_size,
        key=jax.random.PRNGKey(0),
    )
    return tuple((int(b), int(f)) for b, f in model.receptive_field)


def convnet_params(h: int, depth: int, k: int) -> int:
    return (k * h + h) + (depth - 1) * (k * h * h + h) + (k * h + 1)


def tiny_params(h: int) -> int:
    return 7 * h + 1


def tiny_flops(h: int) -> int:
    return 112 * h + 8


@pytest.fixture
def specs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = {
        "c1.yaml": 'model: {"family": "ConvNet", "num_spatial_dims": 1, "in_channels": 1, '
        '"out_channels": 1}\ninput: {"resolution": 64}\n',
        "tiny.yaml": 'model: {"family": "ConvNet", "num_spatial_dims": 1, "in_channels": 1, '
        '"out_channels": 1, "depth": 1}\ninput: {"resolution": 8}\n',
        "f1.yaml": 'model: {"family": "ClassicFNO", "num_spatial_dims": 1, "in_channels": 1, '
        '"out_channels": 1, "hidden_channels": 4, "num_blocks": 1, "num_modes": 2}\n'
        'input: {"resolution": 16}\n',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_hand_formulas():
    assert convnet_params(16, 10, 3) == 7_169  # README "Families" reference figure
    assert convnet_params(32, 10, 3) == 28_161
    assert [convnet_params(h, 10, 3) for h in (18, 19)] == [
        27 * 18 * 18 + 16 * 18 + 1,
        27 * 19 * 19 + 16 * 19 + 1,
    ]
    assert [convnet_params(16, D, 5) for D in (6, 7)] == [1296 * 6 - 1119, 1296 * 7 - 1119]
    assert [convnet_params(h, 1, 3) for h in (2, 3, 4)] == [tiny_params(h) for h in (2, 3, 4)]


class TestMaxParams:
    def test_hidden_channels(self, specs):
        data = solve_json("c1.yaml", "--param", "hidden_channels", "--max-params", "10k")
        assert data == {
            "name": "c1",
            "spec": "c1.yaml",
            "param": "hidden_channels",
            "direction": "largest",
            "limits": {"max_params": 10_000},
            "value": 18,
            "metric": {"params": 9_037},  # 27*324 + 288 + 1
            "next_value": 19,
            "next_metric": {"params": 10_052},  # 27*361 + 304 + 1
            "binding": ["max_params"],
            "next_error": None,
            "probes": 10,  # 1, 2, 4, 8, 16, 32, then 24, 20, 18, 19
            "stopped": None,  # no search bound reached
        }
        # counted independently: the answer fits, the next value does not
        answer = counted("c1.yaml", "model.hidden_channels=18")
        nxt = counted("c1.yaml", "model.hidden_channels=19")
        assert answer == convnet_params(18, 10, 3) == 9_037
        assert nxt == convnet_params(19, 10, 3) == 10_052
        assert answer <= 10_000 < nxt

    def test_table(self, specs):
        result = invoke("solve", "c1.yaml", "--param", "hidden_channels", "--max-params", "1e4")
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            "largest hidden_channels within max_params 10,000: 18\n"
            "  at hidden_channels=18: params 9,037\n"
            "  at hidden_channels=19: params 10,052 — crosses max_params\n"
            "  (10 exact evaluations)\n"
        )
        assert result.stderr == ""

    @pytest.mark.parametrize(("limit", "value"), [("9037", 18), ("9036", 17)])
    def test_limit_is_inclusive(self, specs, limit, value):
        data = solve_json("c1.yaml", "--param", "hidden_channels", "--max-params", limit)
        assert data["value"] == value
        assert data["next_value"] == value + 1
        assert data["metric"] == {"params": convnet_params(value, 10, 3)}
        assert data["next_metric"] == {"params": convnet_params(value + 1, 10, 3)}

    @pytest.mark.usefixtures("repo_root")
    def test_fno_modes_within_the_config_budget(self):
        # configs/fno.yaml: h=32, 4 blocks; 64 + 4*(2*32*32*m + 1056) + 33 = 8192m + 4321
        data = solve_json("configs/fno.yaml", "--param", "num_modes", "--max-params", "110k")
        assert (data["value"], data["next_value"]) == (12, 13)
        assert data["metric"] == {"params": 8192 * 12 + 4321}  # 102,625: the config itself
        assert data["next_metric"] == {"params": 8192 * 13 + 4321}  # 110,817
        assert counted("configs/fno.yaml", "model.num_modes=12") == 102_625
        assert counted("configs/fno.yaml", "model.num_modes=13") == 110_817

    def test_fno_modes_stop_at_the_largest_valid_value(self, specs):
        data = solve_json("f1.yaml", "--param", "num_modes", "--max-params", "100k")
        # h=4, 1 block: 8 + (2*16*m + 20) + 5 = 32m + 33; m=9 is the largest that 16 cells carry
        assert data["value"] == 9
        assert data["metric"] == {"params": 32 * 9 + 33}


class TestMinRF:
    def test_smallest_depth_reaching_the_rf(self, specs):
        data = solve_json(
            "c1.yaml", "--set", "model.kernel_size=5", "--param", "depth", "--min-rf", "15"
        )
        assert data == {
            "name": "c1",
            "spec": "c1.yaml",
            "param": "depth",
            "direction": "smallest",
            "limits": {"min_rf": 15},
            "value": 7,  # 8 five-convs: 2*8 = 16 >= 15
            "metric": {"receptive_field": [[16, 16]]},
            "next_value": 6,  # 7 five-convs: 2*7 = 14 < 15
            "next_metric": {"receptive_field": [[14, 14]]},
            "binding": ["min_rf"],
            "next_error": None,
            "probes": 6,
            "stopped": None,  # no search bound reached
        }
        # independently: pdequinox's ConvNet receptive field for the answer and the one below
        assert pdequinox_convnet_rf(7, 5) == ((16, 16),)
        assert pdequinox_convnet_rf(6, 5) == ((14, 14),)

    def test_exact_hit(self, specs):
        data = solve_json("c1.yaml", "--param", "depth", "--min-rf", "11")
        assert (data["value"], data["next_value"]) == (10, 9)  # (D+1)*1 per side
        assert data["metric"] == {"receptive_field": [[11, 11]]}
        assert data["next_metric"] == {"receptive_field": [[10, 10]]}
        assert pdequinox_convnet_rf(10, 3) == ((11, 11),)

    def test_uses_the_smaller_side_of_an_even_kernel(self, specs):
        # a 4-kernel reaches (1, 2) as JAX pads it: D+1 of them give (D+1, 2(D+1)); the minimum
        # must hold on both sides, so 10 needs D+1 = 10, not 5
        data = solve_json(
            "c1.yaml", "--set", "model.kernel_size=4", "--param", "depth", "--min-rf", "10"
        )
        assert (data["value"], data["next_value"]) == (9, 8)
        assert data["metric"] == {"receptive_field": [[10, 20]]}
        assert data["next_metric"] == {"receptive_field": [[9, 18]]}

    def test_the_lowest_value_already_reaches(self, specs):
        data = solve_json("c1.yaml", "--param", "depth", "--min-rf", "2")
        assert data["value"] == 1
        assert data["metric"] == {"receptive_field": [[2, 2]]}
        assert (data["next_value"], data["next_metric"], data["binding"]) == (None, None, [])

    def test_table(self, specs):
        result = invoke(
            "solve", "c1.yaml", "--set", "model.kernel_size=5", "-p", "depth", "--min-rf", "15"
        )
        assert result.exit_code == 0, result.output
        assert result.stdout == (
            "smallest depth reaching a receptive field of 15 on every side: 7\n"
            "  at depth=7: receptive field (16,16)\n"
            "  at depth=6: receptive field (14,14) — crosses min_rf\n"
            "  (6 exact evaluations)\n"
        )


class TestCombinedLimits:
    def test_max_flops_on_a_tiny_model(self, specs):
        data = solve_json("tiny.yaml", "--param", "hidden_channels", "--max-flops", "250")
        assert (data["value"], data["next_value"]) == (2, 3)
        assert data["metric"] == {"flops": 232}  # 112*2 + 8
        assert data["next_metric"] == {"flops": 344}  # 112*3 + 8
        assert data["binding"] == ["max_flops"]
        # independently, XLA's figure through `inspect`, and by hand
        assert inspected_flops("tiny.yaml", "model.hidden_channels=2") == tiny_flops(2) == 232
        assert inspected_flops("tiny.yaml", "model.hidden_channels=3") == tiny_flops(3) == 344

    def test_flops_binds_while_params_would_allow_more(self, specs):
        data = solve_json(
            "tiny.yaml",
            *("--param", "hidden_channels", "--max-params", "29", "--max-flops", "400"),
        )
        assert data["limits"] == {"max_params": 29, "max_flops": 400}
        assert (data["value"], data["next_value"]) == (3, 4)
        assert data["metric"] == {"params": 22, "flops": 344}
        # at 4: params 29 is still within max_params, flops 456 is not: only max_flops binds
        assert data["next_metric"] == {"params": 29, "flops": 456}
        assert data["binding"] == ["max_flops"]
        assert counted("tiny.yaml", "model.hidden_channels=3") == tiny_params(3) == 22
        assert counted("tiny.yaml", "model.hidden_channels=4") == tiny_params(4) == 29
        assert (tiny_flops(3), tiny_flops(4)) == (344, 456)

    def test_min_rf_with_max_params_both_met(self, specs):
        data = solve_json(
            "c1.yaml",
            *("--set", "model.kernel_size=5", "--param", "depth"),
            *("--min-rf", "15", "--max-params", "50k"),
        )
        assert (data["value"], data["next_value"]) == (7, 6)
        assert data["metric"] == {"params": 7953, "receptive_field": [[16, 16]]}
        assert data["next_metric"] == {"params": 6657, "receptive_field": [[14, 14]]}
        assert data["binding"] == ["min_rf"]
        assert counted("c1.yaml", "model.kernel_size=5", "model.depth=7") == 7953
        assert convnet_params(16, 7, 5) == 7953

    def test_min_rf_blocked_by_max_params(self, specs):
        # depth 7 is the least that reaches the RF; its 7,953 parameters cross max_params, and
        # every deeper net has more: no value satisfies both, and max_params is the one to blame
        result = invoke(
            "solve",
            "c1.yaml",
            *("--set", "model.kernel_size=5", "--param", "depth"),
            *("--min-rf", "15", "--max-params", "5000"),
        )
        assert result.exit_code == 1
        assert result.stdout == (
            "no value of depth satisfies a receptive field of 15 on every side, max_params 5,000\n"
            "at depth=7: params 7,953, receptive field (16,16) (crosses max_params)\n"
        )


class TestFailures:
    def test_no_solution(self, specs):
        # even hidden_channels=1 has 27 + 16 + 1 = 44 parameters
        result = invoke("solve", "c1.yaml", "--param", "hidden_channels", "--max-params", "40")
        assert result.exit_code == 1
        assert result.stdout == (
            "no value of hidden_channels satisfies max_params 40\n"
            "at hidden_channels=1: params 44 (crosses max_params)\n"
        )
        assert counted("c1.yaml", "model.hidden_channels=1") == convnet_params(1, 10, 3) == 44

    def test_no_solution_json(self, specs):
        data = solve_json(
            "c1.yaml", "--param", "hidden_channels", "--max-params", "40", exit_code=1
        )
        assert (data["value"], data["metric"]) == (None, None)
        assert (data["next_value"], data["next_metric"]) == (1, {"params": 44})
        assert data["binding"] == ["max_params"]

    @pytest.mark.parametrize(("option", "raw"), [("--max-params", "lots"), ("--max-memory", "-5")])
    def test_bad_amount(self, specs, option, raw):
        result = invoke("solve", "c1.yaml", option, raw)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == (
            f"error: {option} must be a non-negative number: 1000000, 1_000_000, 1e6, '1.5M', "
            f"'20G', '512Mi'; got '{raw}'\n"
        )

    def test_no_limit(self, specs):
        result = invoke("solve", "c1.yaml", "--param", "depth")
        assert result.exit_code == 2
        assert result.stderr == (
            "error: solve needs a limit: --max-params, --max-flops, --max-memory or --min-rf\n"
        )

    def test_metric_that_does_not_grow(self, specs):
        # parameters do not depend on the resolution: the search stops once they stay put
        result = invoke("solve", "c1.yaml", "--param", "input.resolution", "--max-params", "10k")
        assert result.exit_code == 2
        assert result.stderr == (
            "error: the limited metrics do not grow with input.resolution (the same at "
            "input.resolution=4 and 8); no largest value exists\n"
        )

    def test_rf_that_does_not_grow_is_an_error_not_a_hang(self, specs):
        # kernel 1: every conv is pointwise, the receptive field stays 0 at any depth
        result = invoke(
            "solve", "c1.yaml", "--set", "model.kernel_size=1", "--param", "depth", "--min-rf", "1"
        )
        assert result.exit_code == 2
        assert result.stderr == (
            "error: the receptive field does not grow with depth (still 0 at depth=8); "
            "no value reaches 1\n"
        )

    # the integer arguments of a 1-D ConvNet, as every refusal below lists them
    SOLVABLE = (
        "(solvable: in_channels, out_channels, hidden_channels, depth, kernel_size, "
        "input.resolution, input.batch_size)"
    )

    @pytest.mark.parametrize(
        ("param", "kind"),
        [
            ("use_bias", "bool"),
            ("model.use_bias", "bool"),
            ("activation", "activation"),
            ("boundary_mode", "periodic | dirichlet | neumann"),
            ("num_spatial_dims", "1 | 2 | 3"),
        ],
    )
    def test_a_parameter_that_is_no_integer_is_a_usage_error(self, specs, param, kind):
        """Before: `solve --param use_norm` probed use_norm=1 and exited 1, "no value fits"."""
        result = invoke("solve", "c1.yaml", "--param", param, "--max-params", "1M")
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == (
            f"error: --param {param.removeprefix('model.')}: solve searches integer values, "
            f"but ConvNet's {param.removeprefix('model.')} is of type {kind} {self.SOLVABLE}\n"
        )

    def test_unet_use_norm(self, repo_root):
        result = invoke("solve", "configs/unet.yaml", "--param", "use_norm", "--max-params", "1M")
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == (
            "error: --param use_norm: solve searches integer values, but ClassicUNet's use_norm "
            "is of type bool (solvable: in_channels, out_channels, hidden_channels, num_levels, "
            "input.resolution, input.batch_size)\n"
        )

    def test_a_misspelt_parameter_is_a_usage_error(self, specs):
        result = invoke("solve", "c1.yaml", "--param", "hidden_channel", "--max-params", "1M")
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == (
            "error: --param hidden_channel: ConvNet has no argument 'hidden_channel'; did you "
            f"mean 'hidden_channels'? {self.SOLVABLE}\n"
        )

    def test_a_nested_value_that_is_no_integer_is_a_usage_error(self, repo_root):
        spec = "configs/conv_knobs.yaml"
        result = invoke("solve", spec, "--param", "layers[2].conv.padding", "--max-params", "1M")
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == (
            "error: --param layers[2].conv.padding: solve searches integer values, but "
            "layers[2].conv.padding is 'CAUSAL' in the spec\n"
        )

    def test_integer_values_nested_or_of_a_target_pass_the_check(self, repo_root):
        from archinspect.commands.solve import check_solvable
        from archinspect.spec import load_spec

        knobs = load_spec("configs/conv_knobs.yaml", [])
        check_solvable(knobs, "layers[0].conv.kernel_size")
        check_solvable(knobs, "model.layers[0].conv.out_channels")
        target = load_spec("configs/pdequinox_unet.yaml", [])
        check_solvable(target, "hidden_channels")  # an integer in the spec
        # a name the constructor does not take is refused from its signature (it was probed
        # before, and every probe failed: exit 1, "no value fits")
        with pytest.raises(UsageError, match=r"^error: --param padding_mode_x: pdequinox\.arch"):
            check_solvable(target, "padding_mode_x")
        with pytest.raises(UsageError, match=r"^error: --param use_norm: .* but use_norm is true"):
            check_solvable(target, "use_norm")


class TestEveryLimitOfTheRegistry:
    """solve() takes any limit key of archinspect.metrics, not only the CLI's options."""

    def solve(self, spec: str, param: str, limits: dict):
        from archinspect.commands.inputs import spec_loader
        from archinspect.commands.solve import solve

        loader = spec_loader(spec, None)
        return solve(loader, loader([]), param, limits)

    def test_max_param_bytes(self, specs):
        # float32: 4 bytes per parameter; 4 * tiny_params(10) = 284
        result = self.solve("tiny.yaml", "hidden_channels", {"max_param_bytes": 284})
        assert (result.value, result.metric) == (10, {"param_bytes": 4 * tiny_params(10)})
        assert (result.next_value, result.binding) == (11, ("max_param_bytes",))

    def test_max_learnable_params(self, specs):
        result = self.solve("tiny.yaml", "hidden_channels", {"max_learnable_params": 36})
        assert (result.value, result.metric) == (5, {"learnable_params": tiny_params(5)})
        assert result.next_metric == {"learnable_params": tiny_params(6)}

    def test_max_rf_bounds_the_largest_side(self, specs):
        # kernel 3: (D + 1) cells per side, so depth 4 reaches 5 and depth 5 reaches 6
        result = self.solve("c1.yaml", "depth", {"max_rf": 5})
        assert (result.direction, result.value, result.next_value) == ("largest", 4, 5)
        assert result.metric["receptive_field"].per_axis == ((5, 5),)
        assert result.binding == ("max_rf",)

    def test_two_minima_are_refused(self, specs):
        with pytest.raises(ValueError, match=r"at most one minimum, got \['min_rf', 'rece"):
            self.solve("c1.yaml", "depth", {"min_rf": 3, "receptive_field.min": 3})


class TestSearchBounds:
    """A search ends at --max-value, --max-evaluations or --time-limit, says which, and has no
    answer (exit 1, README "Exit codes"): a limit no value reaches (1T parameters of depth)
    used to grow the model until memory or patience ran out."""

    def test_an_unreachable_rf_stops_at_the_value_bound(self, specs):
        # probes 1, 2, 4, 8, 16; k = 3: the receptive field at depth 16 is (16 + 1) * (3 - 1) / 2
        result = invoke(
            "solve", "c1.yaml", "--param", "depth", "--min-rf", "100000", "--max-value", "16"
        )
        assert result.exit_code == 1, result.output
        assert result.stdout == (
            "no answer for depth with a receptive field of 100,000 on every side\n"
            "  the search stopped at the bound --max-value 16; raise it to search further\n"
            f"  last measured at depth=16: receptive field ({17},{(16 + 1) * (3 - 1) // 2}) — "
            "crosses min_rf\n"
            "  (5 exact evaluations)\n"
        )

    def test_an_unreachable_budget_stops_at_the_value_bound(self, specs):
        data = solve_json(
            "c1.yaml", "--param", "depth", "--max-params", "1T", "--max-value", "8", exit_code=1
        )
        assert data["stopped"] == "--max-value 8"
        assert (data["value"], data["metric"], data["binding"]) == (None, None, [])
        # probes 1, 2, 4, 8: the last one measured fits, so the answer lies beyond the bound;
        # the default width is 16: 4*16 + 16 + 7 * (3*16*16 + 16) + 3*16 + 1 = 5,601
        assert data["next_value"] == 8 and data["probes"] == 4
        assert data["next_metric"] == {"params": convnet_params(16, 8, 3)}
        assert counted("c1.yaml", "model.depth=8") == convnet_params(16, 8, 3)

    def test_the_evaluation_bound(self, specs):
        data = solve_json(
            "c1.yaml",
            "--param",
            "depth",
            "--max-params",
            "1T",
            "--max-evaluations",
            "2",
            exit_code=1,
        )
        assert (data["stopped"], data["probes"], data["next_value"]) == (
            "--max-evaluations 2",
            2,
            2,
        )

    def test_the_time_bound_is_checked_before_each_probe(self, specs):
        # the first probe always runs; the second would start after the limit
        data = solve_json(
            "c1.yaml",
            "--param",
            "depth",
            "--max-params",
            "1T",
            "--time-limit",
            "0.001",
            exit_code=1,
        )
        assert data["stopped"].startswith("--time-limit 0.001s (")
        assert (data["probes"], data["next_value"]) == (1, 1)

    def test_a_probe_predicted_to_end_past_the_time_bound_is_not_started(self, specs, monkeypatch):
        # A fake clock on which a probe at depth d takes d seconds: depths 1, 2, 4 end at
        # 1 + 2 + 4 = 7 s; depth 8 would take 4 s x 8 / 4 = 8 s more, to 15 s, past 10 s.
        import types

        import archinspect.commands.measure as measuring
        import archinspect.commands.solve as solving

        now = [0.0]
        real = measuring.measure

        def slow(spec, *args, **kwargs):
            now[0] += spec.args["depth"]
            return real(spec, *args, **kwargs)

        monkeypatch.setattr(solving, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
        monkeypatch.setattr(measuring, "measure", slow)
        data = solve_json(
            "c1.yaml", "--param", "depth", "--max-params", "1T", "--time-limit", "10", exit_code=1
        )
        assert data["stopped"] == (
            "--time-limit 10s (7s spent; depth=8 would take about 8s more, from depth=4's 4s)"
        )
        assert (data["probes"], now[0]) == (3, 7.0)

    def test_a_lowest_value_above_the_value_bound_is_refused(self, specs):
        # --lowest 1e12 used to build a model of 10^12 layers (MemoryError, exit 3)
        result = invoke(
            "solve",
            "c1.yaml",
            "--param",
            "depth",
            "--max-params",
            "1T",
            "--lowest",
            "1000000000000",
        )
        assert result.exit_code == 2
        assert result.stderr == (
            "error: --lowest 1,000,000,000,000 is above --max-value 65,536: nothing would be "
            "searched; lower --lowest or raise --max-value\n"
        )
