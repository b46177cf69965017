"""Print pip constraints that pin every declared dependency to its floor (README "Set-up").

pip has no lowest-version resolution, so `make test-min` installs with these constraints:
each `name>=X` of the runtime dependencies and of the user extras (plot, flax) becomes
`name==X`, and the packages below that the floors leave open are pinned to the lowest
version the suite was run with. A dependency without a `>=` floor is an error: every floor
the package claims must be one that is tested.

    python tools/min_constraints.py > constraints.txt
    python tools/min_constraints.py --verify   # the running environment has exactly those
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
EXTRAS = ("plot", "flax")  # the extras a user installs; test and dev tools are not floors

# Not our dependencies, but what the floors above leave open; each is the lowest that the
# floor it comes with allows (jax 0.10.2 requires jaxlib>=0.10.1; typer 0.24.0 click>=8.2.1).
TRANSITIVE = {
    "jaxlib": "0.10.1",
    "click": "8.2.1",
}

_FLOOR = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([0-9][0-9A-Za-z.]*)$")


def floors(pyproject: dict) -> dict[str, str]:
    """{name: lowest version} of the runtime dependencies and the user extras."""
    project = pyproject["project"]
    requirements = list(project["dependencies"])
    for extra in EXTRAS:
        requirements += project["optional-dependencies"][extra]
    out: dict[str, str] = {}
    for requirement in requirements:
        match = _FLOOR.match(requirement.split(";")[0].strip())
        if match is None:
            raise SystemExit(f"{requirement!r}: a dependency needs one '>=' floor to be pinned")
        name, version = match.group(1).lower(), match.group(2)
        if out.get(name, version) != version:
            raise SystemExit(f"{name}: two floors, {out[name]} and {version}")
        out[name] = version
    return out


def constraints(pyproject: dict) -> str:
    pins = floors(pyproject) | {k: v for k, v in TRANSITIVE.items() if k not in floors(pyproject)}
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def mismatches(pins: str) -> list[str]:
    """Pinned packages whose installed version is another (a stale or hand-made venv)."""
    out = []
    for line in pins.splitlines():
        name, version = line.split("==")
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{name}: not installed, floor {version}")
            continue
        if _release(installed) != _release(version):
            out.append(f"{name}: installed {installed}, floor {version}")
    return out


def _release(version: str) -> tuple[int, ...]:
    """'6.0' and '6.0.0' are one release (pip pins the first, metadata may say the second)."""
    parts = [int(p) for p in re.findall(r"\d+", version)]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def main(argv: list[str]) -> int:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = constraints(pyproject)
    if argv == ["--verify"]:
        problems = mismatches(pins)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1 if problems else 0
    if argv:
        print("usage: min_constraints.py [--verify]", file=sys.stderr)
        return 2
    sys.stdout.write(pins)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
