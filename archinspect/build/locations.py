"""Where a trusted package may be imported from: installed locations only.

Trusting a package by name is not enough: `python -m` puts the working directory first on
`sys.path`, so a `pdequinox/__init__.py` that a pull request adds to a checkout would be
imported in place of the installed pdequinox. A trusted package is therefore imported only when
the import system would find it in an installed location: site-packages (and the paths that
`.pth` files there add, as editable installs do), the standard library, an import hook
installed there (an editable install's finder), or a directory the user put on `PYTHONPATH`
themselves. Finding a top-level package runs none of its code, so the check happens before
anything is imported.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.machinery
import os
import site
import sys
import sysconfig
from collections.abc import Iterable, Iterator

from archinspect.errors import TrustError


def _real(path: str) -> str:
    return os.path.realpath(path or os.curdir)


def _pth_entries(site_dir: str) -> Iterable[str]:
    """The directories that `.pth` files in a site directory add to `sys.path` (their plain
    lines; `import` lines run code at start-up and add nothing by themselves)."""
    try:
        names = sorted(n for n in os.listdir(site_dir) if n.endswith(".pth"))
    except OSError:
        return
    for name in names:
        try:
            with open(os.path.join(site_dir, name), encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            line = line.strip()
            if line and not line.startswith(("#", "import ", "import\t")):
                yield os.path.join(site_dir, line)


def installed_locations() -> set[str]:
    """Real paths of the `sys.path` entries that hold installed code, or that the user chose
    explicitly with `PYTHONPATH`."""
    sites = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        sites.append(site.getusersitepackages())
    paths = sysconfig.get_paths()
    dirs = [*sites, *(paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))]
    dirs.append(os.path.join(paths["stdlib"], "lib-dynload"))
    dirs.extend(p for p in sys.path if p.endswith(".zip"))  # the standard library, zipped
    for d in sites:
        dirs.extend(_pth_entries(d))
    dirs.extend(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
    dirs.extend(trusted_paths())
    return {_real(d) for d in dirs}


def _found_by(package: str) -> tuple[object, object] | None:
    """(finder, module spec) of the finder on `sys.meta_path` that would import `package`."""
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        found = find(package, None)
        if found is not None:
            return finder, found
    return None


def check_location(package: str, target: str, source: str) -> None:
    """Refuse to import `package` (top-level) when it would come from a directory that is not an
    installed location: the working directory, the spec's directory, an empty `sys.path` entry
    or any other directory nobody installed it into. Already imported packages run nothing new."""
    if package in sys.modules:
        return
    found = _found_by(package)
    if found is None:
        return  # the import fails later with its own message
    finder, module_spec = found
    if finder is not importlib.machinery.PathFinder:
        return  # built-in, frozen, or an installed import hook (editable installs)
    locations = getattr(module_spec, "submodule_search_locations", None)
    origin = getattr(module_spec, "origin", None)
    if locations:  # a package: its directory sits in the sys.path entry
        places = [os.path.dirname(_real(p)) for p in locations]
        shown = origin or list(locations)[0]
    elif origin:
        places = [os.path.dirname(_real(origin))]
        shown = origin
    else:
        return
    allowed = installed_locations()
    for place in places:
        if place not in allowed:
            raise TrustError(
                f"error: {source}: model.target {target!r}: the trusted package {package!r} "
                f"would be imported from {shown}, which is not an installed location "
                "(site-packages, the standard library, a PYTHONPATH or --trust-path directory): "
                "a file in the "
                "working directory or beside a spec could stand in for the installed package. "
                f"Nothing was imported. Install {package!r} (pip install), or pass its directory "
                "with --trust-path (or put it on PYTHONPATH) if you mean to use that copy."
            )


# The `--trust-path` directories of the command in progress (set by the CLI around a command's
# body, archinspect.cli.app.run): a context value, so nothing outlives the command.
_TRUST_PATHS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "trust_paths", default=()
)


def trusted_paths() -> tuple[str, ...]:
    """Real paths of the `--trust-path` directories in force."""
    return _TRUST_PATHS.get()


@contextlib.contextmanager
def trusting(paths: Iterable[str]) -> Iterator[None]:
    """While active, `paths` (`--trust-path DIR`, the command line only, never the spec) are
    installed locations too, put first on `sys.path` as `PYTHONPATH` would put them; each must
    be an existing directory. `sys.path` and the trusted set are restored on exit."""
    from archinspect.errors import UsageError

    real = []
    for path in paths:
        if not os.path.isdir(path):
            raise UsageError(
                f"error: --trust-path {path!r}: no such directory; --trust-path names a "
                "directory that holds trusted packages"
            )
        real.append(_real(path))
    if not real:
        yield
        return
    saved = list(sys.path)
    token = _TRUST_PATHS.set(tuple(dict.fromkeys(real)))
    sys.path[:0] = [p for p in real if p not in sys.path]
    importlib.invalidate_caches()
    try:
        yield
    finally:
        _TRUST_PATHS.reset(token)
        sys.path[:] = saved
