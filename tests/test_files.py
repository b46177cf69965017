"""Hostile files: `--output` targets that are not plain files, and spec files that are not
what they seem (README "Exit codes" and "The spec file"). Each reproducer is the test input;
every message is asserted word for word."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archinspect import output
from archinspect.cli import app
from archinspect.errors import ArchinspectError, FileError
from archinspect.spec import files, load_spec

ROOT = Path(__file__).resolve().parent.parent
MLP = (ROOT / "configs" / "mlp.yaml").read_text()
LIMIT = "at most 4 MiB (4,194,304 bytes)"
SECRET = "ghp_0123456789abcdefSECRET"

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def families_json() -> str:
    return invoke("families", "-f", "json").stdout


# --- --output: what is there decides how it is written --------------------------------------


def test_empty_output_name_is_exit_2():
    result = invoke("families", "-o", "")
    assert result.exit_code == 2
    assert result.stderr == "error: --output needs a file name, got ''\n"


def test_dev_null_is_written_through_not_replaced():
    # In a root CI container, a rename over /dev/null would replace the device with a file.
    before = os.stat("/dev/null")
    result = invoke("families", "-f", "json", "-o", "/dev/null")
    assert result.exit_code == 0, result.output
    assert result.stderr == "wrote /dev/null\n"
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_dev_full_is_exit_2_no_space():
    result = invoke("families", "-f", "json", "-o", "/dev/full")
    assert result.exit_code == 2
    assert result.stderr == "error: cannot write --output /dev/full: no space left on the device\n"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_fifo_is_written_through(tmp_path: Path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = invoke("families", "-f", "json", "-o", str(fifo))
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert received == [families_json().encode()]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the FIFO, not a file renamed over it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_symlink_writes_the_file_it_leads_to_and_keeps_the_link(tmp_path: Path):
    real = tmp_path / "shared" / "report.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "report.json"
    link.symlink_to(real)
    result = invoke("families", "-f", "json", "-o", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == families_json()
    assert sorted(p.name for p in real.parent.iterdir()) == ["report.json"]


def test_dangling_symlink_creates_its_target(tmp_path: Path):
    link = tmp_path / "report.json"
    link.symlink_to(tmp_path / "new.json")
    result = invoke("families", "-f", "json", "-o", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink()
    assert (tmp_path / "new.json").read_text() == families_json()


def test_replacing_keeps_the_permission_bits(tmp_path: Path):
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o640)
    assert invoke("families", "-f", "json", "-o", str(target)).exit_code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_text() == families_json()


def test_directory_target_is_exit_2(tmp_path: Path):
    result = invoke("families", "-o", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: cannot write --output {tmp_path}: it is a directory; give a file name "
        "(a regular file is replaced, a character device or FIFO written through)\n"
    )


def test_path_under_a_file_is_exit_2(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("x")
    target = tmp_path / "notes.txt" / "r.json"
    result = invoke("families", "-o", str(target))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: cannot write --output {target}: {tmp_path / 'notes.txt'} is not a directory\n"
    )


def test_unwritable_directory_is_exit_2_not_an_internal_error():
    # /proc takes no new files, for root too (chmod-based read-only directories do not bite
    # when the tests run as root, so the kernel's own read-only directory is the reproducer).
    result = invoke("families", "-o", "/proc/archinspect-report.json")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: cannot write --output /proc/archinspect-report.json: "
        "cannot create a file in /proc: "
    )
    assert "internal error" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")  # one line


def test_read_only_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o444)
    if os.geteuid() == 0:  # root passes every permission check: make access() say what it is
        real_access = os.access
        monkeypatch.setattr(
            output.os,
            "access",
            lambda p, mode: False if str(p) == str(target) else real_access(p, mode),
        )
    result = invoke("families", "-o", str(target))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: cannot write --output {target}: the file is read-only "
        "(archinspect does not replace a file you cannot write)\n"
    )
    assert target.read_text() == "old"


def test_keyboard_interrupt_while_writing_leaves_old_file_and_no_temporary(tmp_path: Path):
    target = tmp_path / "report.json"
    target.write_text("old")

    def interrupted(handle):
        handle.write(b"half a rep")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match=r"^$"):
        output.write_file(str(target), interrupted)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_keyboard_interrupt_before_the_rename_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    target = tmp_path / "report.json"
    target.write_text("old")

    def replace(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(output.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt, match=r"^$"):
        output.write_atomic(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_full_disk_on_a_regular_file_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    target = tmp_path / "report.json"
    target.write_text("old")

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(output.os, "fsync", fsync)
    with pytest.raises(FileError, match=r"^error: ") as exc:
        output.write_atomic(target, "new")
    assert exc.value.message == (
        f"error: cannot write --output {target}: no space left on the device"
    )
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_dev_stdout_onto_a_file_appends(tmp_path: Path):
    # `-o /dev/stdout >> log` must add to the log, not replace it by renaming over it.
    log = tmp_path / "log"
    log.write_text("earlier line\n")
    with log.open("a") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "archinspect", "families", "-f", "json", "-o", "/dev/stdout"],
            stdout=handle,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert log.read_text() == "earlier line\n" + families_json()


# --- --output is checked before any work ---------------------------------------------------


def _never(*args, **kwargs):
    raise AssertionError("the command started working before its output path was checked")


def test_bad_output_on_rf_fails_before_the_spec_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import archinspect.cli.model
    import archinspect.commands.rf

    monkeypatch.setattr(archinspect.cli.model, "load", _never)
    monkeypatch.setattr(archinspect.commands.rf, "rf_report", _never)
    target = tmp_path / "missing" / "rf.json"
    result = invoke("rf", str(ROOT / "configs" / "unet.yaml"), "-o", str(target))
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: cannot write --output {target}: directory {target.parent} does not exist\n"
    )


def test_bad_output_on_check_fails_before_the_specs_are_read(monkeypatch: pytest.MonkeyPatch):
    import archinspect.commands.check
    import archinspect.commands.inputs

    monkeypatch.setattr(archinspect.commands.inputs, "load_each", _never)
    monkeypatch.setattr(archinspect.commands.check, "check_specs", _never)
    result = invoke("check", str(ROOT / "configs" / "mlp.yaml"), "-f", "junit", "-o", "")
    assert result.exit_code == 2
    assert result.stderr == "error: --output needs a file name, got ''\n"


def test_bad_plot_on_sweep_fails_before_the_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import archinspect.commands.sweep

    monkeypatch.setattr(archinspect.commands.sweep, "run_sweep", _never)
    result = invoke("sweep", str(ROOT / "configs" / "mlp.yaml"), "-p", "depth", "--plot", "/tmp")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: cannot write --plot /tmp: it is a directory; give a file name "
        "(a regular file is replaced, a character device or FIFO written through)\n"
    )


# --- spec files: regular, bounded, never through a link out of the tree -------------------


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository checkout as the working directory, a secret outside it."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".git-credentials").write_text(f"https://user:{SECRET}@github.com\n")
    repo = tmp_path / "repo"
    (repo / "configs").mkdir(parents=True)
    (repo / "configs" / "mlp.yaml").write_text(MLP)
    monkeypatch.chdir(repo)
    return repo


LEAK = (
    "error: cannot read configs/leak.yaml: it is a symbolic link that leads out of the working "
    "directory {root}; refusing to follow it (pass --follow-symlinks to read it anyway)"
)


@pytest.mark.parametrize("fmt", ["github", "json", "junit", "table", "csv", "markdown"])
def test_symlink_to_a_secret_is_never_quoted(checkout: Path, fmt: str):
    (checkout / "configs" / "leak.yaml").symlink_to(checkout.parent / "home" / ".git-credentials")
    result = invoke("check", "configs/*.yaml", "--format", fmt)
    assert result.exit_code == 2
    assert SECRET not in result.stdout and SECRET not in result.stderr
    assert LEAK.format(root=checkout) in result.stdout + result.stderr
    # the good spec is still checked (the text formats summarise, the data formats list it)
    assert "2 budgets in 1 spec: 2 ok" in result.stdout or "mlp-1d" in result.stdout


def test_symlink_github_annotation_exact(checkout: Path):
    (checkout / "configs" / "leak.yaml").symlink_to(checkout.parent / "home" / ".git-credentials")
    result = invoke("check", "configs/leak.yaml", "--format", "github")
    first = result.stdout.splitlines()[0]
    assert first == (
        "::error file=configs/leak.yaml,title=archinspect spec::" + LEAK.format(root=checkout)
    )


def test_follow_symlinks_reads_it_and_a_whole_scalar_document_is_not_quoted(checkout: Path):
    (checkout / "configs" / "leak.yaml").symlink_to(checkout.parent / "home" / ".git-credentials")
    result = invoke("validate", "--follow-symlinks", "configs/leak.yaml")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: configs/leak.yaml is not a valid archinspect spec (1 problem)\n"
        "configs/leak.yaml:1:1: a spec must be a mapping with a `model:` key; the file is a single "
        "string (not shown)\n"
    )


def test_symlink_inside_the_tree_is_followed(checkout: Path):
    (checkout / "configs" / "alias.yaml").symlink_to("mlp.yaml")
    assert load_spec("configs/alias.yaml").name == "mlp-1d"


def test_directory_symlink_out_of_the_tree_is_refused(checkout: Path):
    (checkout / "configs" / "vendored").symlink_to(checkout.parent / "home")
    with pytest.raises(FileError, match=r"^error: ") as exc:
        load_spec("configs/vendored/.git-credentials")
    assert exc.value.message == (
        "error: cannot read configs/vendored/.git-credentials: configs/vendored is a symbolic "
        f"link that leads out of the working directory {checkout}; refusing to follow it (pass "
        "--follow-symlinks to read it anyway)"
    )


def test_dotdot_after_a_link_goes_where_the_system_goes(checkout: Path):
    # configs/up -> ../../home, so configs/up/../repo/... is physically outside then back in
    (checkout / "configs" / "up").symlink_to(checkout.parent / "home")
    with pytest.raises(ArchinspectError, match=r"configs/up is a symbolic link that leads out"):
        load_spec("configs/up/../repo/configs/mlp.yaml")
    assert load_spec("configs/up/../repo/configs/mlp.yaml", follow_symlinks=True).name == "mlp-1d"


def test_dangling_symlink(checkout: Path):
    (checkout / "gone.yaml").symlink_to("nowhere.yaml")
    with pytest.raises(FileError, match=r"^error: ") as exc:
        load_spec("gone.yaml")
    assert exc.value.message == "error: gone.yaml is a symbolic link to a file that does not exist"


def test_dev_zero_is_refused_without_reading():
    with pytest.raises(FileError, match=r"^error: ") as exc:
        load_spec("/dev/zero")
    assert exc.value.message == (
        "error: /dev/zero is a character device, not a spec file; a spec is a regular file of "
        f"{LIMIT}"
    )


def test_fifo_is_refused_without_blocking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    os.mkfifo("pipe.yaml")
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            load_spec("pipe.yaml")
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=30)
    if worker.is_alive():  # blocked on the FIFO: unblock it, then fail
        os.close(os.open(tmp_path / "pipe.yaml", os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO spec blocked")
    assert isinstance(outcome[0], ArchinspectError)
    assert outcome[0].message == (
        "error: pipe.yaml is a named pipe (FIFO), not a spec file; a spec is a regular file of "
        f"{LIMIT}"
    )


def test_fifo_named_archinspect_yaml_is_an_error_not_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    os.mkfifo("archinspect.yaml")
    result = invoke("count", "-f", "json")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: archinspect.yaml is a named pipe (FIFO), not a spec file; a spec is a regular "
        f"file of {LIMIT}\n"
    )


def test_spec_larger_than_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    with open("big.yaml", "wb") as handle:
        handle.truncate(5 * 1024 * 1024)  # sparse: 5 MiB of size, no disk
    result = invoke("validate", "big.yaml")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: big.yaml is 5,242,880 bytes, larger than a spec file may be: {LIMIT}\n"
    )


def test_a_file_that_reports_size_zero_is_still_bounded(monkeypatch: pytest.MonkeyPatch):
    # /proc files report size 0 whatever they hold; the read itself is bounded too.
    monkeypatch.setattr(files, "MAX_BYTES", 16)
    with pytest.raises(FileError, match=r"^error: ") as exc:
        load_spec("/proc/self/status")
    assert exc.value.message == (
        f"error: /proc/self/status is larger than a spec file may be: {LIMIT}"
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"{SECRET}\n", "a single string"),
        ("123456\n", "a single number"),
        ("true\n", "a single true/false value"),
        (f"- {SECRET}\n", "a list of 1 item"),
    ],
)
def test_whole_scalar_document_is_described_not_quoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, kind: str
):
    monkeypatch.chdir(tmp_path)
    Path("token.yaml").write_text(text)
    result = invoke("validate", "token.yaml")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: token.yaml is not a valid archinspect spec (1 problem)\n"
        f"token.yaml:1:1: a spec must be a mapping with a `model:` key; the file is {kind} "
        "(not shown)\n"
    )
    assert "123456" not in result.stderr and SECRET not in result.stderr


def test_json_report_of_a_good_spec_through_a_link_in_the_tree(checkout: Path):
    (checkout / "archinspect.yaml").symlink_to("configs/mlp.yaml")
    result = invoke("count", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"]["total"] == 14576


# --- glob patterns: `**` never descends into a link ------------------------------------------


def _tree(root: Path) -> None:
    for name in ("a.yaml", "sub/b.yaml", "sub/deeper/c.yaml", ".hidden/d.yaml", "sub/.e.yaml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")


@pytest.mark.parametrize(
    "pattern",
    ["**/*.yaml", "sub/**/*.yaml", "sub/**", "**", "**/", "*/**/*.yaml", "**/deeper/*.yaml"],
)
def test_recursive_glob_matches_what_glob_matches_without_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pattern: str
):
    import glob

    from archinspect.commands.inputs import expand_specs

    monkeypatch.chdir(tmp_path)
    _tree(tmp_path)
    assert expand_specs([pattern]) == sorted(glob.glob(pattern, recursive=True))


def test_two_links_to_the_parent_do_not_make_the_glob_explode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # glob.glob follows both links 40 levels deep: 2**40 directories for one pattern.
    from archinspect.commands.inputs import expand_specs

    monkeypatch.chdir(tmp_path)
    _tree(tmp_path)
    (tmp_path / "sub" / "up1").symlink_to("..")
    (tmp_path / "sub" / "up2").symlink_to("..")
    outcome: list[list[str]] = []
    worker = threading.Thread(target=lambda: outcome.append(expand_specs(["**/*.yaml"])))
    worker.daemon = True
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "expanding the glob did not finish"
    assert outcome == [["a.yaml", "sub/b.yaml", "sub/deeper/c.yaml"]]
