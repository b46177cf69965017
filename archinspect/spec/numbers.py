"""Budget numbers: plain ints/floats, `1_000_000`, scientific notation and SI suffixes."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

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


def parse_amount(value: Any) -> int | None:
    """Return the exact non-negative integer a budget value denotes, or None if it is not one.

    Decimal arithmetic keeps "1.5M" exact (1,500,000) where float would round large values.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        if value < 0 or value != value or value in (float("inf"),):
            return None
        value = repr(value)
    if not isinstance(value, str):
        return None
    match = _PATTERN.match(value)
    if not match or match.group(_SUFFIX_GROUP) not in _SUFFIX:
        return None
    try:
        number = (
            Decimal(match.group(_NUMBER_GROUP).replace("_", ""))
            * _SUFFIX[match.group(_SUFFIX_GROUP)]
        )
    except InvalidOperation:
        return None
    if number != number.to_integral_value():
        return None
    return int(number)


AMOUNT_HELP = "a non-negative number: 1000000, 1_000_000, 1e6, '1.5M', '20G', '512Mi'"
