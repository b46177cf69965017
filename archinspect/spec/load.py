"""Read a spec from a file, the working directory's archinspect.yaml, or the embedded default."""

from __future__ import annotations

import os
from pathlib import Path

from archinspect.errors import ArchinspectError
from archinspect.spec.default import DEFAULT_SOURCE, DEFAULT_SPEC
from archinspect.spec.document import parse_document
from archinspect.spec.model import Spec
from archinspect.spec.overrides import apply_overrides
from archinspect.spec.validate import validate

FALLBACK_FILE = "archinspect.yaml"


def load_spec(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> Spec:
    """Load and validate a spec; with no path, fall back to ./archinspect.yaml, then the default.

    The returned Spec carries a note (for stderr) when the embedded default is used.
    """
    notes: tuple[str, ...] = ()
    if path is None:
        if Path(FALLBACK_FILE).is_file():
            path = FALLBACK_FILE
        else:
            spec = load_spec_text(DEFAULT_SPEC, DEFAULT_SOURCE, overrides, "default-unet-2d")
            note = (
                f"note: no spec given and no ./{FALLBACK_FILE}; using the embedded default "
                "(2-D ClassicUNet at 64x64)"
            )
            return _with_notes(spec, (note,))
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArchinspectError(f"error: spec file not found: {path}") from None
    except IsADirectoryError:
        raise ArchinspectError(f"error: {path} is a directory, not a spec file") from None
    except UnicodeDecodeError as exc:
        raise ArchinspectError(f"error: {path} is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ArchinspectError(f"error: cannot read {path}: {exc.strerror}") from None
    return _with_notes(load_spec_text(text, str(path), overrides, p.stem), notes)


def load_spec_text(
    text: str, source: str, overrides: list[str] | None = None, default_name: str = "spec"
) -> Spec:
    doc = parse_document(text, source)
    if overrides:
        apply_overrides(doc, overrides)
    return validate(doc, default_name)


def _with_notes(spec: Spec, notes: tuple[str, ...]) -> Spec:
    if not notes:
        return spec
    from dataclasses import replace

    return replace(spec, notes=spec.notes + notes)
