"""The symmetry groups of the square grid that group convolutions use: C4 and D4 (JAX-free).

An element is g = r^i m^j (i in 0..3, j in 0..1): first mirror the array left-right (m, when
j = 1), then rotate it by i quarter turns counter-clockwise (r, numpy's `rot90` on the last
two axes). Elements are numbered s = i + 4 j, so the order is

    C4: e, r, r2, r3                          (S = 4)
    D4: e, r, r2, r3, m, r m, r2 m, r3 m      (S = 8)

and C4 is the first half of D4. Products follow from m r = r^-1 m (mirroring reverses the
sense of rotation): (r^a m^b)(r^c m^d) = r^(a + (-1)^b c) m^(b + d). The filter bank of a group
convolution and the equivariance check both read the table from here, so they cannot disagree.
"""

from __future__ import annotations

GROUPS: dict[str, int] = {"C4": 4, "D4": 8}


def order(group: str) -> int:
    """S, the number of elements (orientations) of `group`."""
    return GROUPS[group]


def split(s: int) -> tuple[int, int]:
    """(quarter turns i, mirrored j) of element number s."""
    return s % 4, s // 4


def element(turns: int, mirrored: int) -> int:
    return turns % 4 + 4 * mirrored


def compose(a: int, b: int) -> int:
    """The number of the product a b (apply b, then a)."""
    i, j = split(a)
    k, m = split(b)
    return element(i + (-1) ** j * k, (j + m) % 2)


def inverse(a: int) -> int:
    """Rotations invert their turn; every mirrored element is its own inverse."""
    i, j = split(a)
    return element(-i, 0) if j == 0 else a


def label(s: int) -> str:
    """ "e", "r", "r2", "r3", "m", "r m", "r2 m", "r3 m"."""
    i, j = split(s)
    rot = "" if i == 0 else ("r" if i == 1 else f"r{i}")
    parts = [p for p in (rot, "m" if j else "") if p]
    return " ".join(parts) or "e"


def describe(s: int) -> str:
    """In words: "rotate 90°", "mirror, then rotate 180°", "identity"."""
    i, j = split(s)
    rot = f"rotate {90 * i}°" if i else ""
    if j and rot:
        return f"mirror left-right, then {rot}"
    return "mirror left-right" if j else (rot or "identity")


def permutation(g: int, group: str) -> tuple[int, ...]:
    """For each orientation h, the orientation g^-1 h: the filter (or feature) of orientation h
    after acting with g comes from orientation g^-1 h. For C4 this is the cyclic shift
    h -> (h - i) mod 4."""
    inv = inverse(g)
    return tuple(compose(inv, h) for h in range(order(group)))
