"""`target:` models: pdequinox (and any Equinox module) by import path, behind a trust list.

- pdequinox's own architectures loaded by `target:` give the same parameter counts, the same
  output shape and the same top-level rows as archinspect's built-in family with the same
  arguments (pdequinox is trusted by default);
- an untrusted target is refused with exit 2 and an exact message *before anything is
  imported*: a package that writes a sentinel file when imported proves it;
- `--trust PKG` comes from the command line only, never from the YAML;
- a target must be an eqx.Module class or a callable returning one; everything else is exit 2
  with a message that says what is wrong.
"""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import pdequinox as pdeq
import pytest
import yaml
from typer.testing import CliRunner

from archinspect.build import build_abstract
from archinspect.cli import app
from archinspect.commands.inspect import inspect_report
from archinspect.errors import TrustError
from archinspect.layers.conv import Conv
from archinspect.spec import load_spec_text

runner = CliRunner()

TRUST_LIST = "archinspect, equinox, pdequinox"


def spec_of(model: dict, **inp):
    return load_spec_text(yaml.safe_dump({"model": model, "input": inp}), "test.yaml")


def rows(report) -> list[tuple]:
    return [(r.path, r.input_shapes, r.output_shapes, r.params) for r in report.layers]


def write_spec(path: Path, model: dict, resolution=(8,), **top) -> str:
    path.write_text(
        yaml.safe_dump({**top, "model": model, "input": {"resolution": list(resolution)}})
    )
    return str(path)


def untrusted_message(source: str, target: str, package: str, extra: str = "") -> str:
    listed = TRUST_LIST + (f", {extra}" if extra else "")
    return (
        f"error: {source}: model.target {target!r} is not trusted: importing it would run code "
        f"from package {package!r}, which is not in the trust list ({listed}). If you trust it, "
        f"pass --trust {package} on the command line (the spec file cannot extend the trust "
        "list).\n"
    )


# ---------------------------------------------------------------------------------------------
# pdequinox through `target:` == the built-in family
# ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("repo_root")
def test_pdequinox_unet_config_equals_the_builtin_unet():
    """configs/pdequinox_unet.yaml and configs/unet.yaml have the same arguments."""
    ours_spec = load_spec_text(Path("configs/unet.yaml").read_text(), "configs/unet.yaml")
    theirs_spec = load_spec_text(
        Path("configs/pdequinox_unet.yaml").read_text(), "configs/pdequinox_unet.yaml"
    )
    assert theirs_spec.target == "pdequinox.arch.ClassicUNet"
    ours = inspect_report(ours_spec, costs=False, depth=1)
    theirs = inspect_report(theirs_spec, costs=False, depth=1)
    assert theirs.params.total == ours.params.total == 2_357_441
    assert theirs.params.by_dtype == ours.params.by_dtype == {"float32": 2_357_441}
    assert theirs.input_shape == ours.input_shape == (1, 128, 128)
    assert theirs.output_shape == ours.output_shape == (1, 128, 128)
    assert theirs.family == "ClassicUNet" and theirs.target == "pdequinox.arch.ClassicUNet"
    # the same tree paths, shapes and parameters, level by level (root + 18 top-level rows)
    assert rows(theirs) == rows(ours)
    assert len(rows(theirs)) == 1 + 18


@pytest.mark.usefixtures("repo_root")
def test_pdequinox_unet_config_through_the_cli():
    out = {}
    for config in ("configs/unet.yaml", "configs/pdequinox_unet.yaml"):
        result = runner.invoke(app, ["shapes", config, "-f", "json", "-d", "1"])
        assert result.exit_code == 0, result.output
        out[config] = json.loads(result.stdout)
    ours, theirs = out["configs/unet.yaml"], out["configs/pdequinox_unet.yaml"]
    assert theirs["target"] == "pdequinox.arch.ClassicUNet"
    assert theirs["output_shape"] == ours["output_shape"] == [1, 128, 128]
    keys = ("path", "input_shape", "output_shape", "params", "calls")
    assert [[r[k] for k in keys] for r in theirs["layers"]] == [
        [r[k] for k in keys] for r in ours["layers"]
    ]
    # pdequinox's own block types show up
    types = {r["path"]: r["type"] for r in theirs["layers"]}
    assert types["down_sampling_blocks[0]"] == "LinearConvDownBlock"
    assert types["up_sampling_blocks[0]"] == "LinearConvUpBlock"
    counts = [
        json.loads(runner.invoke(app, ["count", c, "-f", "json"]).stdout)["params"]
        for c in ("configs/unet.yaml", "configs/pdequinox_unet.yaml")
    ]
    assert counts[0] == counts[1]


PDEQ_GRID = {
    "ConvNet": dict(
        hidden_channels=3, depth=2, kernel_size=4, activation="tanh", boundary_mode="dirichlet"
    ),
    "ClassicResNet": dict(hidden_channels=3, num_blocks=2, use_norm=True),
    "ModernResNet": dict(hidden_channels=3, num_blocks=1, boundary_mode="neumann"),
    "ClassicUNet": dict(hidden_channels=2, num_levels=2),
    "ModernUNet": dict(hidden_channels=2, num_levels=2, num_blocks=1, channel_multipliers=[1, 3]),
    "ClassicFNO": dict(hidden_channels=3, num_modes=2, num_blocks=2, activation="gelu"),
    "DilatedResNet": dict(hidden_channels=3, num_blocks=1, dilation_rates=[1, 2]),
    "MLP": dict(num_points=4, width_size=5, depth=1, final_activation="sigmoid"),
}


@pytest.mark.parametrize("dims", [1, 2, pytest.param(3, marks=pytest.mark.slow)])
@pytest.mark.parametrize("family", list(PDEQ_GRID))
def test_pdequinox_target_equals_builtin_family(family, dims):
    base = {"num_spatial_dims": dims, "in_channels": 2, "out_channels": 3, **PDEQ_GRID[family]}
    resolution = 4 if family == "MLP" else 8
    ours = inspect_report(
        spec_of({"family": family, **base}, resolution=resolution), costs=False, depth=1
    )
    theirs = inspect_report(
        spec_of({"target": f"pdequinox.arch.{family}", **base}, resolution=resolution),
        costs=False,
        depth=1,
    )
    assert theirs.params.total == ours.params.total
    assert theirs.params.bytes == ours.params.bytes
    assert theirs.input_shape == ours.input_shape == (2,) + (resolution,) * dims
    assert theirs.output_shape == ours.output_shape == (3,) + (resolution,) * dims
    # archinspect's families keep pdequinox's top-level tree paths: down to depth 1 the rows
    # line up one to one (deeper, pdequinox calls parameter-free identity bypass modules)
    assert rows(theirs) == rows(ours)


def test_pdequinox_reference_count_through_target():
    """The README's reference figure ("Families"), 1-D ClassicResNet with defaults: 37,345
    parameters."""
    model = {"target": "pdequinox.arch:ClassicResNet", "num_spatial_dims": 1}
    report = inspect_report(spec_of({**model, "in_channels": 1, "out_channels": 1}), costs=False)
    assert report.params.total == 37_345
    assert report.output_shape == (1, 64)  # default resolution 64


# ---------------------------------------------------------------------------------------------
# Activation names become callables for a target; lists become tuples.
# ---------------------------------------------------------------------------------------------

RECORDED: dict = {}


def recording_convnet(**kwargs):
    """A function returning an eqx.Module that remembers the keyword arguments it was given."""
    RECORDED.clear()
    RECORDED.update(kwargs)
    kwargs.pop("dilation_rates", None)
    return pdeq.arch.ConvNet(**kwargs)


def test_activation_names_become_callables(tmp_path):
    model = {
        "target": "tests.test_target:recording_convnet",
        "num_spatial_dims": 1,
        "in_channels": 1,
        "out_channels": 1,
        "hidden_channels": 2,
        "depth": 1,
        "activation": "tanh",
        "final_activation": "sigmoid",
        "boundary_mode": "dirichlet",
        "dilation_rates": [1, 2],
    }
    report = inspect_report(spec_of(model, resolution=[8]), trusted=("tests",), costs=False)
    assert report.output_shape == (1, 8)
    assert RECORDED["activation"] is jnp.tanh
    assert RECORDED["final_activation"] is jax.nn.sigmoid
    assert RECORDED["boundary_mode"] == "dirichlet"  # other strings are left alone
    assert RECORDED["dilation_rates"] == (1, 2)  # YAML lists become tuples
    assert isinstance(RECORDED["key"], jax.Array)  # supplied by archinspect


def test_pdequinox_forward_runs_with_named_activations():
    """pdequinox calls its activation: a string would fail the forward pass."""
    for name in ("relu", "gelu", "silu", "identity", "tanh"):
        model = {
            "target": "pdequinox.arch.ClassicResNet",
            "num_spatial_dims": 1,
            "in_channels": 1,
            "out_channels": 1,
            "hidden_channels": 2,
            "num_blocks": 1,
            "activation": name,
        }
        assert inspect_report(spec_of(model, resolution=8), costs=False).output_shape == (1, 8)


# ---------------------------------------------------------------------------------------------
# The trust list: refused without importing; --trust on the command line only.
# ---------------------------------------------------------------------------------------------

PACKAGE_SOURCE = textwrap.dedent(
    """
    from pathlib import Path

    Path({sentinel!r}).write_text("imported")  # the import side effect

    import equinox as eqx
    import jax


    class Net(eqx.Module):
        conv: eqx.nn.Conv

        def __init__(self, num_spatial_dims, in_channels, out_channels, *, key):
            self.conv = eqx.nn.Conv(num_spatial_dims, in_channels, out_channels, 1, key=key)

        def __call__(self, x):
            return self.conv(x)
    """
)


@pytest.fixture
def untrusted(tmp_path, monkeypatch):
    """A package on sys.path that writes a sentinel file when imported; a fresh name each
    time, removed from sys.modules afterwards. Its directory is on PYTHONPATH too, as a user
    puts it there: a directory nobody chose is not a place trusted code is imported from
    (tests/test_trust_locations.py)."""

    def make(prefix: str = "untrusted"):
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        sentinel = tmp_path / f"{name}.imported"
        package = tmp_path / "site" / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(PACKAGE_SOURCE.format(sentinel=str(sentinel)))
        monkeypatch.syspath_prepend(str(tmp_path / "site"))
        monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
        made.append(name)
        return name, sentinel

    made: list[str] = []
    yield make
    for name in made:
        sys.modules.pop(name, None)


NET = {"num_spatial_dims": 1, "in_channels": 2, "out_channels": 3}


@pytest.mark.parametrize("command", ["shapes", "inspect", "count"])
def test_untrusted_target_is_refused_without_importing(untrusted, tmp_path, command):
    name, sentinel = untrusted()
    target = f"{name}:Net"
    spec = write_spec(tmp_path / "s.yaml", {"target": target, **NET})
    result = runner.invoke(app, [command, spec])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == untrusted_message(spec, target, name)
    assert not sentinel.exists()
    assert name not in sys.modules


def program_message(source: str, target: str, module: str) -> str:
    return (
        f"error: {source}: model.target {target!r} names the module {module!r}, a program's "
        "entry point: importing it would run that program, not define a model. Point "
        "model.target at the module that defines the model.\n"
    )


@pytest.mark.parametrize(
    "target", ["archinspect.__main__:main", "archinspect.__main__.main", "__main__:main"]
)
def test_a_main_module_is_never_imported(tmp_path, monkeypatch, target):
    """Before: `target: archinspect.__main__:main` ran the whole CLI again inside the import."""
    monkeypatch.delitem(sys.modules, "archinspect.__main__", raising=False)
    spec = write_spec(tmp_path / "s.yaml", {"target": target, **NET})
    result = runner.invoke(app, ["count", spec, "--trust", "__main__"])
    assert (result.exit_code, result.stdout) == (2, "")
    module = target.partition(":")[0] if ":" in target else target.rpartition(".")[0]
    assert result.stderr == program_message(spec, target, module)
    assert "archinspect.__main__" not in sys.modules


def test_a_trusted_packages_main_module_is_not_imported(untrusted, tmp_path):
    name, sentinel = untrusted()
    main = tmp_path / "site" / name / "__main__.py"  # a program that marks that it ran
    main.write_text(f"from pathlib import Path\nPath({str(sentinel)!r}).write_text('ran')\n")
    target = f"{name}.__main__:Net"
    spec = write_spec(tmp_path / "s.yaml", {"target": target, **NET})
    result = runner.invoke(app, ["shapes", spec, "--trust", name])
    assert result.exit_code == 2
    assert result.stderr == program_message(spec, target, f"{name}.__main__")
    assert not sentinel.exists()


def test_untrusted_dotted_target_and_the_python_api(untrusted):
    name, sentinel = untrusted()
    target = f"{name}.sub.deeper.Net"
    with pytest.raises(TrustError, match=rf"^error: test\.yaml: .*{name}") as info:
        build_abstract(spec_of({"target": target, **NET}, resolution=8))
    assert info.value.exit_code == 2
    assert str(info.value) + "\n" == untrusted_message("test.yaml", target, name)
    assert not sentinel.exists()
    assert name not in sys.modules


def test_trusting_another_package_does_not_help(untrusted, tmp_path):
    name, sentinel = untrusted()
    spec = write_spec(tmp_path / "s.yaml", {"target": f"{name}:Net", **NET})
    result = runner.invoke(app, ["shapes", spec, "--trust", "numpy", "--trust", name + "_x"])
    assert result.exit_code == 2
    assert result.stderr == untrusted_message(spec, f"{name}:Net", name, f"numpy, {name}_x")
    assert not sentinel.exists()


def test_lookalike_of_a_trusted_package_is_not_trusted(untrusted, tmp_path):
    """Trust is by the whole top-level package name, not a prefix."""
    name, sentinel = untrusted(prefix="pdequinox")
    spec = write_spec(tmp_path / "s.yaml", {"target": f"{name}.arch.Net", **NET})
    result = runner.invoke(app, ["shapes", spec])
    assert result.exit_code == 2
    assert result.stderr == untrusted_message(spec, f"{name}.arch.Net", name)
    assert not sentinel.exists()


def test_standard_library_is_not_trusted(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", {"target": "os:system", **NET})
    result = runner.invoke(app, ["shapes", spec])
    assert result.exit_code == 2
    assert result.stderr == untrusted_message(spec, "os:system", "os")


def test_trusted_with_the_command_line_flag_is_imported(untrusted, tmp_path):
    name, sentinel = untrusted()
    spec = write_spec(tmp_path / "s.yaml", {"target": f"{name}:Net", **NET}, resolution=(5,))
    result = runner.invoke(app, ["shapes", spec, "--trust", name, "-f", "json"])
    assert result.exit_code == 0, result.output
    assert sentinel.read_text() == "imported"
    data = json.loads(result.stdout)
    assert data["target"] == f"{name}:Net"
    assert data["family"] == "Net"
    assert data["input_shape"] == [2, 5] and data["output_shape"] == [3, 5]
    assert [(r["path"], r["type"], r["params"]) for r in data["layers"]] == [
        ("", "Net", 9),
        ("conv", "Conv", 9),  # 1x1 conv 2 -> 3: 6 weights + 3 biases
    ]


def test_trust_cannot_come_from_the_yaml(untrusted, tmp_path):
    name, sentinel = untrusted()
    target = f"{name}:Net"
    spec = write_spec(tmp_path / "s.yaml", {"target": target, **NET}, trust=[name])
    result = runner.invoke(app, ["shapes", spec])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {spec} is not a valid archinspect spec (1 problem)"
    assert lines[1].endswith(
        "trust: unknown key 'trust' (allowed: name, model, input, forward, init, sweep, budget)"
    )
    assert len(lines) == 2
    assert not sentinel.exists()


def test_trust_inside_the_model_mapping_is_only_a_keyword_argument(untrusted, tmp_path):
    """For a target every other model key is a keyword argument; it never extends trust."""
    name, sentinel = untrusted()
    target = f"{name}:Net"
    spec = write_spec(tmp_path / "s.yaml", {"target": target, "trust": [name], **NET})
    result = runner.invoke(app, ["shapes", spec])
    assert result.exit_code == 2
    assert result.stderr == untrusted_message(spec, target, name)
    assert not sentinel.exists()


def test_validate_never_imports_a_target(untrusted, tmp_path):
    name, sentinel = untrusted()
    spec = write_spec(tmp_path / "s.yaml", {"target": f"{name}:Net", **NET})
    result = runner.invoke(app, ["validate", spec])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: {spec}\n"
    assert not sentinel.exists()


# ---------------------------------------------------------------------------------------------
# What a target may be.
# ---------------------------------------------------------------------------------------------

NOT_A_MODEL = 42


def make_net(num_spatial_dims: int, in_channels: int, out_channels: int, *, key) -> eqx.Module:
    """A function returning an eqx.Module: a 3-conv then a 1x1 conv."""
    k1, k2 = jax.random.split(key)
    return eqx.nn.Sequential(
        [
            eqx.nn.Conv(num_spatial_dims, in_channels, 4, 3, padding="SAME", key=k1),
            eqx.nn.Lambda(jax.nn.relu),
            eqx.nn.Conv(num_spatial_dims, 4, out_channels, 1, key=k2),
        ]
    )


def returns_dict(**kwargs):
    return {"weight": jnp.zeros(3)}


class PlainNet:
    """Callable, returns an instance, but not an Equinox module."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs


def raises_runtime_error(**kwargs):
    raise RuntimeError("the user's constructor failed")


class AssertingNet(eqx.Module):
    """Builds fine; its forward pass asserts on the input (user code, not archinspect's)."""

    conv: Conv

    def __init__(self, num_spatial_dims: int, in_channels: int, out_channels: int, *, key):
        self.conv = Conv(num_spatial_dims, in_channels, out_channels, 1, key=key)

    def __call__(self, x: jax.Array) -> jax.Array:
        assert x.shape[0] == 99, "AssertingNet needs 99 input channels"
        return self.conv(x)


def run_target(tmp_path: Path, target: str, *extra: str, **model):
    spec = write_spec(tmp_path / "s.yaml", {"target": target, **NET, **model})
    return spec, runner.invoke(app, ["shapes", spec, "--trust", "tests", *extra])


def test_function_returning_a_module(tmp_path):
    spec, result = run_target(tmp_path, "tests.test_target:make_net", "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["family"] == "make_net"
    assert data["input_shape"] == [2, 8] and data["output_shape"] == [3, 8]
    params = {r["path"]: r["params"] for r in data["layers"]}
    # conv 2 -> 4, kernel 3: 24 + 4; conv 4 -> 3, 1x1: 12 + 3
    assert params[""] == 28 + 15
    assert params["layers[0]"] == 28 and params["layers[2]"] == 15


def test_module_class_target_from_archinspect_itself(tmp_path):
    """A trusted package needs no --trust; the class gets key= from archinspect."""
    spec = write_spec(
        tmp_path / "s.yaml",
        {"target": "archinspect.layers.conv:Conv", **NET, "kernel_size": 3},
        resolution=(7,),
    )
    result = runner.invoke(app, ["shapes", spec, "-f", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["layers"] == [
        {
            "path": "",
            "type": "Conv",
            "depth": 0,
            "input_shape": [2, 7],
            "output_shape": [3, 7],
            "params": 21,
            "own_params": 21,
            "calls": 1,
            "folded": 0,
            "receptive_field": [[1, 1]],  # one 3-conv
            # its geometry: 3 taps, stride 1, one periodic cell each side (the default)
            "conv": {
                "kernel_size": [3],
                "kernel_dilation": [1],
                "input_dilation": [1],
                "effective_kernel": [3],
                "stride": [1],
                "padding": [[1, 1]],
                "padding_mode": "circular",
                "groups": 1,
                "transposed": False,
            },
        }
    ]


def test_not_callable(tmp_path):
    target = "tests.test_target:NOT_A_MODEL"
    spec, result = run_target(tmp_path, target)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {spec}: model.target {target!r} is a int, not an Equinox module class or a "
        "function returning one\n"
    )


@pytest.mark.parametrize(("attr", "kind"), [("returns_dict", "dict"), ("PlainNet", "PlainNet")])
def test_callable_that_does_not_return_a_module(tmp_path, attr, kind):
    target = f"tests.test_target:{attr}"
    spec, result = run_target(tmp_path, target)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {spec}: model.target {target!r} returned a {kind}, not an Equinox module "
        "(eqx.Module)\n"
    )


def test_missing_attribute(tmp_path):
    target = "tests.test_target:NoSuchNet"
    spec, result = run_target(tmp_path, target)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {spec}: module 'tests.test_target' has no attribute 'NoSuchNet' "
        f"(model.target {target!r})\n"
    )


def test_missing_module(tmp_path):
    target = "tests.no_such_module:Net"
    spec, result = run_target(tmp_path, target)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {spec}: cannot import 'tests.no_such_module' for model.target {target!r}: "
        "No module named 'tests.no_such_module'\n"
    )


def test_missing_top_level_package_is_refused_before_any_import_attempt(tmp_path):
    target = "no_such_package_at_all:Net"
    spec = write_spec(tmp_path / "s.yaml", {"target": target, **NET})
    result = runner.invoke(app, ["shapes", spec])
    assert result.exit_code == 2
    assert result.stderr == untrusted_message(spec, target, "no_such_package_at_all")


def test_key_is_supplied_by_archinspect(tmp_path):
    spec, result = run_target(tmp_path, "tests.test_target:make_net", key=3)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {spec} is not a valid archinspect spec (1 problem)\n"
        f"{spec}:6:8: model.key: is passed by archinspect itself, not by the spec (it takes: "
        "num_spatial_dims, in_channels, out_channels)\n"
    )


def test_wrong_keyword_argument(tmp_path):
    spec, result = run_target(tmp_path, "tests.test_target:make_net", hidden_channels=4)
    assert result.exit_code == 2
    # read from its signature before anything is built (archinspect/build/arguments.py)
    assert result.stderr == (
        f"error: {spec} is not a valid archinspect spec (1 problem)\n"
        f"{spec}:5:20: model.hidden_channels: tests.test_target:make_net has no argument "
        "'hidden_channels'; did you mean 'in_channels'? (it takes: num_spatial_dims, "
        "in_channels, out_channels)\n"
    )


def test_target_constructor_raising_is_exit_2(tmp_path):
    _, result = run_target(tmp_path, "tests.test_target:raises_runtime_error")
    assert result.exit_code == 2
    assert "the user's constructor failed" in result.stderr
    assert "bug in archinspect" not in result.stderr


def test_target_forward_assertion_is_exit_2(tmp_path):
    _, result = run_target(tmp_path, "tests.test_target:AssertingNet")
    assert result.exit_code == 2
    assert "AssertingNet needs 99 input channels" in result.stderr
    assert "bug in archinspect" not in result.stderr


def test_target_needs_its_input_channels(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", {"target": "tests.test_target:make_net"})
    result = runner.invoke(app, ["shapes", spec, "--trust", "tests"])
    assert result.exit_code == 2
    assert "a `target:` model needs its input channels" in result.stderr
