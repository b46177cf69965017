"""`make bench` on its tiny setting (README, "Performance"): one Markdown table with every row,
every numeric cell a number, the machine and the versions in its header. No timing asserts:
the figures depend on the machine and its load."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench  # noqa: E402

K = 3**3  # a 3-D 3x3x3 kernel


def conv(i: int, o: int) -> int:
    return K * i * o + o  # weights + bias


def norm(c: int) -> int:
    return 2 * c  # GroupNorm's scale and shift


def unet3d_one_level(h: int) -> int:
    """pdequinox's ClassicUNet, 3-D, 1 in and 1 out channel, num_levels=1, counted by hand:
    lifting double conv 1->h->h; down: a stride-2 conv h->h, double conv h->2h->2h; up: a
    transposed conv 2h->h, double conv of the concatenation 2h->h->h; 1x1 projection h->1."""
    lift = conv(1, h) + norm(h) + conv(h, h) + norm(h)
    down = conv(h, h) + conv(h, 2 * h) + norm(2 * h) + conv(2 * h, 2 * h) + norm(2 * h)
    up = conv(2 * h, h) + conv(2 * h, h) + norm(h) + conv(h, h) + norm(h)
    return lift + down + up + (h + 1)


def test_hand_count_of_the_tiny_unet() -> None:
    # h=2: lift 56+4+110+4, down 110+(216+4)+8+(432+4)+8, up 218+(216+2)+4+110+4, projection 3
    assert unet3d_one_level(2) == 174 + 782 + 554 + 3 == 1_513


def test_the_bench_writes_archinspects_bytecode_first(tmp_path: Path, monkeypatch) -> None:
    """A copy of the package with no .pyc at all: after compile_sources every source has
    bytecode Python accepts (its header records the source's size), so no timed run compiles."""
    import importlib.util
    import shutil

    copy = tmp_path / "archinspect"
    shutil.copytree(ROOT / "archinspect", copy, ignore=shutil.ignore_patterns("__pycache__"))
    sources = sorted(copy.rglob("*.py"))
    assert not list(copy.rglob("*.pyc")) and len(sources) > 100
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    bench.compile_sources()
    for source in sources:
        cached = Path(importlib.util.cache_from_source(str(source)))
        header = cached.read_bytes()[:16]  # magic, flags, mtime, source size
        assert header[:4] == importlib.util.MAGIC_NUMBER, source
        assert int.from_bytes(header[12:16], "little") == source.stat().st_size, source


def test_parse_bytes() -> None:
    assert bench.parse_bytes("8K") == 8_000
    assert bench.parse_bytes("2Gi") == 2 * 1024**3
    assert bench.parse_bytes("1500") == 1_500


def test_quick_bench_prints_one_table_with_every_row(tmp_path: Path) -> None:
    # 8 KB lets the eager build of hidden 2 run (4 bytes x 1,513 = 6,052 bytes) and refuses
    # hidden 4 and the loop up to width 3, so both kinds of eager cell are exercised.
    plot = tmp_path / "bench.png"
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench.py", "--quick", "--eager-limit", "8K"]
        + ["--plot", str(plot)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    assert cpu is not None and cpu.group(1).strip() in lines[0]
    assert re.search(r"python \S+, jax \S+, .*archinspect \S+", lines[1])
    head = next(i for i, line in enumerate(lines) if line.startswith("| case |"))
    assert [c.strip() for c in lines[head].strip("|").split("|")] == list(bench.COLUMNS)
    body = lines[head + 2 :]
    assert all(line.startswith("| ") for line in body)
    rows = {cells[0]: dict(zip(bench.COLUMNS, cells, strict=True)) for cells in map(split, body)}

    expected = [c.label for c in bench.cases(bench.QUICK)]
    assert list(rows) == expected  # every row, in order, and nothing else
    assert len(expected) == 2 + 2 * len(bench.QUICK.hidden) + 1 + 2 + 3

    for label, row in rows.items():
        if row["median s"].startswith("does not fit"):
            assert label.startswith("pdequinox"), label
            assert row["median s"].endswith(" > 8.0 KB)"), row
            continue
        for col in ("median s", "min s", "max s", "x floor", "beyond floor s", "peak RSS MB"):
            float(row[col])
        ratio = row["eager / archinspect"]
        if label.startswith("pdequinox"):
            assert float(ratio) > 0
        else:
            assert ratio == bench.NOT_APPLICABLE

    h = bench.QUICK.hidden
    assert h == (2, 4) and bench.QUICK.levels == 1
    count = "archinspect count --no-rf, 3-D ClassicUNet (1 levels) hidden {}"
    assert rows[count.format(2)]["parameters"] == f"{unet3d_one_level(2):,}"
    assert rows[count.format(4)]["parameters"] == f"{unet3d_one_level(4):,}"
    default = "archinspect count (receptive field by default), 3-D ClassicUNet (1 levels) hidden 4"
    assert rows[default]["parameters"] == f"{unet3d_one_level(4):,}"
    eager2 = rows["pdequinox eager build + count, hidden 2"]
    assert eager2["parameters"] == "1,513" and float(eager2["median s"]) > 0
    # 4 bytes x 5,833 parameters (lift 564, down 3,076, up 2,188, projection 5) = 23,332 bytes
    assert unet3d_one_level(4) == 564 + 3_076 + 2_188 + 5 == 5_833
    eager4 = rows["pdequinox eager build + count, hidden 4"]["median s"]
    assert eager4 == "does not fit (23.3 KB > 8.0 KB)"
    loop = rows["pdequinox eager builds, loop over the same widths"]["median s"]
    assert loop == f"does not fit ({4 * unet3d_one_level(3) / 1e3:.1f} KB > 8.0 KB)"
    sweep = next(r for label, r in rows.items() if label.startswith("archinspect sweep"))
    assert sweep["parameters"] == f"{sum(unet3d_one_level(w) for w in bench.QUICK.sweep):,}"
    floor = rows['floor: python -c "import jax, equinox"']
    assert (floor["x floor"], floor["beyond floor s"]) == ("1.00", "+0.00")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def split(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]
