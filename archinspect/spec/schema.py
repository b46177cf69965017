"""JSON Schema of a spec file (draft 2020-12), generated from the family declarations.

yaml-language-server understands `if`/`then`, so each family's arguments are offered and
checked once `family:` is set.
"""

from __future__ import annotations

from archinspect.families import FAMILIES
from archinspect.metrics import BUDGET_AMOUNTS
from archinspect.spec.numbers import AMOUNT_HELP, AMOUNT_PATTERN
from archinspect.spec.validate import BATCH_AXIS, DTYPES, LAYOUTS

_TARGET_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*[.:][A-Za-z_]\w*$"
SCHEMA_ID = "https://archinspect.invalid/schema/spec.json"


def _amount() -> dict:
    """A whole, non-negative number (an integer, or a float such as 5e9 that a YAML 1.2 editor
    reads as a number) or the string forms. The branches must not overlap: under `oneOf` an
    integer that is also a number matches two and is rejected."""
    return {
        "description": AMOUNT_HELP,
        "oneOf": [
            {"type": "number", "minimum": 0, "multipleOf": 1},
            {"type": "string", "pattern": AMOUNT_PATTERN},
        ],
    }


def _rf_bound() -> dict:
    axis = {
        "oneOf": [
            {"type": "integer", "minimum": 0},
            {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "minItems": 2,
                "maxItems": 2,
            },
        ]
    }
    return {
        "oneOf": [
            {"type": "integer", "minimum": 0},
            {"type": "array", "items": axis, "minItems": 1},
        ]
    }


def build_schema() -> dict:
    branches = []
    for name, family in FAMILIES.items():
        props = {"family": {"const": name}}
        for arg in family.all_args:
            schema = arg.json_schema()
            if not arg.required:
                schema = {**schema, "default": arg.default}
            props[arg.name] = schema
        branches.append(
            {
                "if": {"properties": {"family": {"const": name}}, "required": ["family"]},
                "then": {
                    "properties": props,
                    "required": ["family", *(a.name for a in family.all_args if a.required)],
                    "additionalProperties": False,
                },
            }
        )
    positive = {"type": "integer", "minimum": 1}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "archinspect spec",
        "type": "object",
        "additionalProperties": False,
        "required": ["model"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "model": {
                "type": "object",
                "oneOf": [{"required": ["family"]}, {"required": ["target"]}],
                "properties": {
                    "family": {"enum": list(FAMILIES)},
                    "target": {
                        "type": "string",
                        "pattern": _TARGET_PATTERN,
                        "description": "import path of an Equinox module class or of a "
                        "function returning one (its package must be trusted: --trust PKG)",
                    },
                },
                "allOf": branches,
            },
            "input": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "resolution": {
                        "oneOf": [
                            positive,
                            {"type": "array", "items": positive, "minItems": 1, "maxItems": 3},
                        ]
                    },
                    "channels": {
                        **positive,
                        "description": "input channels of a `target:` model without in_channels",
                    },
                    "batch_size": positive,
                    "dtype": {"enum": list(DTYPES)},
                    "layout": {
                        "enum": list(LAYOUTS),
                        "description": "where the model wants the channels; default: "
                        "channels_first for Equinox, channels_last for Flax NNX models",
                    },
                    "shape": {
                        "type": "array",
                        "prefixItems": [{"oneOf": [positive, {"const": BATCH_AXIS}]}],
                        "items": positive,
                        "minItems": 2,
                        "description": "the whole input in the layout's order, instead of "
                        f"resolution and channels; a leading '{BATCH_AXIS}' calls the model "
                        "with a batch axis",
                    },
                },
            },
            "sweep": {
                "type": "object",
                "additionalProperties": {"type": "array", "minItems": 1},
            },
            "budget": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    **{k: _amount() for k in BUDGET_AMOUNTS},
                    "receptive_field": {
                        "type": "object",
                        "additionalProperties": False,
                        "minProperties": 1,
                        "properties": {"min": _rf_bound(), "max": _rf_bound()},
                    },
                },
            },
        },
    }
