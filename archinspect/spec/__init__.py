"""Spec files: safe YAML with positions, overrides, validation into a `Spec`."""

from archinspect.spec.load import load_spec, load_spec_text
from archinspect.spec.model import InputSpec, Spec

__all__ = ["InputSpec", "Spec", "load_spec", "load_spec_text"]
