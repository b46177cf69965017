"""Read a spec from a file, the working directory's archinspect.yaml, or the embedded default."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from archinspect.spec.default import DEFAULT_SOURCE, DEFAULT_SPEC
from archinspect.spec.document import parse_document
from archinspect.spec.files import STDIN, STDIN_SOURCE, read_spec_file, read_spec_stdin
from archinspect.spec.model import Spec
from archinspect.spec.overrides import apply_overrides
from archinspect.spec.validate import validate

FALLBACK_FILE = "archinspect.yaml"


def load_spec(
    path: str | os.PathLike | None = None,
    overrides: list[str] | None = None,
    follow_symlinks: bool = False,
    frozen: Sequence[str] = (),
    *,
    stdin_text: str | None = None,
) -> Spec:
    """Load and validate a spec; with no path, fall back to ./archinspect.yaml, then the default.
    `frozen`: the `--frozen` patterns, carried by the Spec to every analysis that counts. The
    path `-` is standard input (`stdin_text` when it was read already: a sweep loads the spec
    once per value, and standard input can be read only once).

    The returned Spec carries a note (for stderr) when the embedded default is used. The file
    is read by archinspect.spec.files (a bounded regular file; symbolic links out of the
    working directory's tree only with `follow_symlinks`).
    """
    notes: tuple[str, ...] = ()
    if path is None:
        # Anything but a directory is used: a FIFO or a link out of the tree is an error then.
        if os.path.lexists(FALLBACK_FILE) and not os.path.isdir(FALLBACK_FILE):
            path = FALLBACK_FILE
        else:
            spec = load_spec_text(DEFAULT_SPEC, DEFAULT_SOURCE, overrides, "default-unet-2d")
            note = (
                f"note: no spec given and no ./{FALLBACK_FILE}; using the embedded default "
                "(2-D ClassicUNet at 64x64)"
            )
            return _with_notes(spec, (note,), frozen)
    if os.fspath(path) == STDIN:
        text = read_spec_stdin() if stdin_text is None else stdin_text
        spec = load_spec_text(text, STDIN_SOURCE, overrides, "stdin")
        return _with_notes(spec, notes, frozen)
    text = read_spec_file(os.fspath(path), follow_symlinks)
    spec = load_spec_text(text, str(path), overrides, Path(path).stem)
    return _with_notes(spec, notes, frozen)


def load_spec_text(
    text: str, source: str, overrides: list[str] | None = None, default_name: str = "spec"
) -> Spec:
    doc = parse_document(text, source)
    if overrides:
        apply_overrides(doc, overrides)
    return validate(doc, default_name)


def _with_notes(spec: Spec, notes: tuple[str, ...], frozen: Sequence[str] = ()) -> Spec:
    if not notes and not frozen:
        return spec
    from dataclasses import replace

    return replace(spec, notes=spec.notes + notes, frozen=tuple(frozen))
