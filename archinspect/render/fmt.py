"""Small, shared text formatting for every renderer."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from fractions import Fraction

_SHORT = {
    "float32": "f32",
    "float64": "f64",
    "float16": "f16",
    "bfloat16": "bf16",
    "complex64": "c64",
    "complex128": "c128",
    "int32": "i32",
    "int16": "i16",
    "int8": "i8",
    "uint32": "u32",
    "uint16": "u16",
    "uint8": "u8",
    "int64": "i64",
    "bool": "bool",
}


def short_dtype(dtype: str) -> str:
    """'bfloat16' -> 'bf16', as array descriptions write it."""
    return _SHORT.get(dtype, dtype)


def num(n: int) -> str:
    return f"{n:,}"


def human_bytes(n: int) -> str:
    for unit, size in (
        ("EB", 10**18),
        ("PB", 10**15),
        ("TB", 10**12),
        ("GB", 10**9),
        ("MB", 10**6),
        ("kB", 10**3),
    ):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def array_desc(name: str, shape: tuple[int, ...], dtype: str) -> str:
    short = _SHORT.get(dtype, dtype)
    leaf = name.rpartition(".")[2] if not name.endswith("]") else name
    return f"{leaf} {short}[{','.join(str(d) for d in shape)}]"


def row_path(path: str) -> str:
    return path or "(total)"


def dims_label(n: int) -> str:
    return f"{n}-D"


def dtype_lines(
    by_dtype: dict[str, int], elements: dict[str, int], nbytes: dict[str, int]
) -> list[str]:
    out = []
    for dtype, params in by_dtype.items():
        line = f"{dtype}: {num(params)}"
        if params != elements[dtype]:
            line += f" ({num(elements[dtype])} complex elements x 2)"
        out.append(f"{line}, {num(nbytes[dtype])} bytes")
    return out


# Extents of a receptive field: an int number of cells, an exact Fraction on an up-sampled grid
# (README, "Receptive fields across grids"), or math.inf for spectral (FFT) coupling. Every
# renderer writes them through these four functions and nowhere else: a fraction is a number
# (JSON) or decimal text when a binary float holds it exactly (1/2 -> 0.5, 5/4 -> 1.25), and
# the string "p/q" otherwise (4/3), so that nothing is rounded; whole extents stay ints.


def _dyadic(v: Fraction) -> bool:
    d = v.denominator
    return d & (d - 1) == 0


def extent_json(v: float | Fraction) -> int | float | str:
    """An extent for JSON: an int, a float holding a fraction exactly, "p/q", or "inf"."""
    if v == math.inf:
        return "inf"
    f = Fraction(v)
    if f.denominator == 1:
        return int(f)
    return float(f) if _dyadic(f) else f"{f.numerator}/{f.denominator}"


def extent_text(v: float | Fraction) -> str:
    """An extent as text: "inf", the int, the exact decimal (0.5) or "p/q" (4/3)."""
    return str(extent_json(v))


def pairs_json(
    pairs: Iterable[tuple[float | Fraction, float | Fraction]],
) -> list[list[int | float | str]]:
    """Per-axis (backward, forward) extents for JSON: [[b, f], ...]."""
    return [[extent_json(b), extent_json(f)] for b, f in pairs]


def pairs_csv(pairs: Sequence[tuple[float | Fraction, float | Fraction]] | None) -> str:
    """Per-axis extents for one CSV cell: their JSON ("[[11,11],[3,3]]", "inf" quoted), which
    any reader turns back into numbers; "" for none."""
    if pairs is None:
        return ""
    import json

    return json.dumps(pairs_json(pairs), separators=(",", ":"))


def pairs_text(
    pairs: Sequence[tuple[float | Fraction, float | Fraction]] | None, compact: bool = False
) -> str:
    """'(11,11) (3,3)' per axis; compact: one pair when every axis has the same ('(3,3)×2')."""
    if pairs is None:
        return ""
    texts = [f"({extent_text(b)},{extent_text(f)})" for b, f in pairs]
    if compact and len(set(texts)) == 1:
        return texts[0] + (f"×{len(texts)}" if len(texts) > 1 else "")
    return " ".join(texts)


def shape_text(shape: Iterable[int], sep: str = "×") -> str:
    return sep.join(str(d) for d in shape)


def one_paragraph(message: str) -> str:
    """A multi-line error as one line, for a table cell or a JSON field."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def reason(message: str) -> str:
    """Why a probed config is invalid: the error in one line, without its "error: FILE: "."""
    return re.sub(r"^error: [^:]*: ", "", one_paragraph(message))
