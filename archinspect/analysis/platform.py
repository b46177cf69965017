"""Choosing the JAX backend (`--platform cpu|gpu|tpu`): present, or a clear error, never a
silent fallback to another one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from archinspect.errors import PlatformError

PLATFORMS = ("cpu", "gpu", "tpu")


def available_platforms() -> list[str]:
    import jax

    found = []
    for name in PLATFORMS:
        try:
            if jax.devices(name):
                found.append(name)
        except RuntimeError:
            continue
    return found


def resolve(name: str | None) -> str:
    """The platform to use: the requested one if present, else JAX's default backend."""
    import jax

    if name is None:
        backend = jax.default_backend()
        return "gpu" if backend in ("cuda", "rocm") else backend
    if name not in PLATFORMS:
        raise PlatformError(
            f"error: --platform must be one of {', '.join(PLATFORMS)}, got {name!r}"
        )
    try:
        jax.devices(name)
    except RuntimeError:
        raise PlatformError(
            f"error: --platform {name}: no {name} backend is available on this machine "
            f"(available: {', '.join(available_platforms()) or 'none'})"
        ) from None
    return name


@contextlib.contextmanager
def on_platform(name: str) -> Iterator[None]:
    """Lower and compile for the first device of the platform."""
    import jax

    with jax.default_device(jax.devices(name)[0]):
        yield
