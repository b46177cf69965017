"""Spec -> Equinox model. Abstract by default: every array leaf is a ShapeDtypeStruct."""

from __future__ import annotations

from typing import Any

from archinspect.errors import BuildError
from archinspect.registry import FAMILIES
from archinspect.spec.model import Spec


def model_kwargs(spec: Spec) -> dict[str, Any]:
    return dict(spec.args)


def build_abstract(spec: Spec) -> Any:
    """Trace the constructor with `eqx.filter_eval_shape`: no weight is ever allocated."""
    import equinox as eqx
    import jax

    cls = FAMILIES[spec.family].load_class()
    kwargs = model_kwargs(spec)

    def construct():
        return cls(**kwargs, key=jax.random.PRNGKey(0))

    try:
        return eqx.filter_eval_shape(construct)
    except (ValueError, TypeError) as exc:
        raise BuildError(
            f"error: {spec.source}: cannot build {spec.family} with these arguments: {exc}"
        ) from exc
