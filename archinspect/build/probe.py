"""Child process of archinspect.build.concrete: build a spec's model concretely with the
address space capped, and print the bytes of its arrays (exit statuses in that module)."""

from __future__ import annotations

import json
import pickle
import resource
import sys


def _address_space() -> int:
    """Bytes of address space this process holds now (VmSize)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmSize in /proc/self/status")


def _import_as_parent(name: str, origin: str | None, locations: list[str]) -> None:
    """Import the target's top-level package from where the parent imported it, once its trust
    checks passed there: the checks here then see it imported, as they did there."""
    import importlib.util

    if origin is None or name in sys.modules:
        return
    found = importlib.util.spec_from_file_location(
        name, origin, submodule_search_locations=locations or None
    )
    if found is None or found.loader is None:
        return
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module
    found.loader.exec_module(module)


def main() -> int:
    from archinspect.build.concrete import FAILED, FITS, OVER, first_line

    spec, trusted, max_memory, path, imported = pickle.loads(sys.stdin.buffer.read())
    sys.path[:] = path  # the parent's (archinspect.build.concrete)
    if imported is not None:
        _import_as_parent(*imported)
    import equinox as eqx
    import jax

    from archinspect.build import construct_kwargs, constructor, wide

    make, kwargs = constructor(spec, trusted)
    kwargs = construct_kwargs(spec, make, kwargs)
    key = jax.random.PRNGKey(0)  # the backend and its threads, before the cap
    cap = _address_space() + max_memory
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard < 0 else min(cap, hard), hard))
    try:
        with wide(spec.input.dtype):
            model = make(**kwargs, key=key)
        total = sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(model) if eqx.is_array(leaf))
    except MemoryError:
        print("an allocation failed at the limit")
        return OVER
    except Exception as exc:  # the user's constructor: reported by the parent
        print(f"{type(exc).__name__}: {first_line(exc)}")
        # XLA reports a failed allocation as an error of its own
        return OVER if "RESOURCE_EXHAUSTED" in str(exc) else FAILED
    print(json.dumps({"bytes": int(total)}))
    return FITS


if __name__ == "__main__":
    sys.exit(main())
