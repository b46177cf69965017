"""Budget numbers: plain ints/floats, `1_000_000`, scientific notation and SI suffixes."""

from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from archinspect.spec.messages import brief_repr

# Decimal SI prefixes; binary ones (Ki, Mi, ...) for byte budgets.
_SUFFIX = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_NUMBER = r"[0-9][0-9_]*(\.[0-9]*)?([eE][+-]?[0-9]+)?"
_PATTERN = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z]{{0,2}})\s*$")
_NUMBER_GROUP, _SUFFIX_GROUP = 1, 4

# The same syntax as a JSON Schema (ECMA-262) pattern for editors: number, then a suffix.
AMOUNT_PATTERN = rf"^\s*{_NUMBER}\s*({'|'.join(_SUFFIX)})\s*$"


# Amounts are counts of parameters, FLOPs or bytes: below 10^30 is far beyond any of them.
# The bound is applied to the digits and the exponent as written, before anything is converted:
# `1e999999` is ten bytes whose integer would take minutes to build.
MAX_AMOUNT_DIGITS = 30
MAX_AMOUNT = 10**MAX_AMOUNT_DIGITS
# Longer text is not read at all (an amount is written in a dozen characters).
MAX_AMOUNT_CHARS = 64
_EXACT = Context(prec=2 * MAX_AMOUNT_CHARS)  # enough digits that "1.5M" stays exact


def parse_amount(value: Any) -> int | None:
    """Return the exact non-negative integer a budget value denotes, or None if it is not one.

    Decimal arithmetic keeps "1.5M" exact (1,500,000) where float would round large values.
    """
    amount = _read(value)
    return amount if isinstance(amount, int) else None


def amount_problem(value: Any) -> str | None:
    """Why `value` is not an amount ("must be ...; got ..."), or None when it is one."""
    amount = _read(value)
    return amount if isinstance(amount, str) else None


def _read(value: Any) -> int | str:
    """The amount, or the message that says why there is none."""
    shown = brief_repr(value)
    bad = f"must be {AMOUNT_HELP}; got {shown}"
    too_large = (
        f"must be below 1e{MAX_AMOUNT_DIGITS} (at most {MAX_AMOUNT_DIGITS} digits); got {shown}"
    )
    if isinstance(value, bool):
        return bad
    if isinstance(value, int):
        if value < 0:
            return bad
        return value if value < MAX_AMOUNT else too_large
    if isinstance(value, float):
        if value < 0 or value != value:
            return bad
        if value >= MAX_AMOUNT:
            return too_large
        value = repr(value)
    if not isinstance(value, str):
        return bad
    if len(value) > MAX_AMOUNT_CHARS:
        return f"must be at most {MAX_AMOUNT_CHARS} characters, {AMOUNT_HELP}; got {shown}"
    match = _PATTERN.match(value)
    if not match or match.group(_SUFFIX_GROUP) not in _SUFFIX:
        return bad
    try:
        number = Decimal(match.group(_NUMBER_GROUP).replace("_", ""))
    except InvalidOperation:
        return bad
    if number.is_zero():
        return 0
    scale = _SUFFIX[match.group(_SUFFIX_GROUP)]
    # adjusted() is the power of ten of the leading digit, read from the text's exponent
    # without expanding it: the magnitude is known before any digit is built.
    if number.adjusted() + len(str(scale)) - 1 > MAX_AMOUNT_DIGITS:
        return too_large
    if number.adjusted() < -MAX_AMOUNT_CHARS:
        return bad  # a fraction, however it is scaled
    number = _EXACT.multiply(number, Decimal(scale))
    if number != number.to_integral_value():
        return bad
    amount = int(number)
    return amount if amount < MAX_AMOUNT else too_large


AMOUNT_HELP = "a non-negative number: 1000000, 1_000_000, 1e6, '1.5M', '20G', '512Mi'"
