"""Wording shared by every spec message: values shown as written in YAML, "did you mean"."""

from __future__ import annotations

import difflib
from typing import Any

# Values quoted back in messages are cut to this many characters: a message names the value,
# it does not copy a megabyte of it.
MAX_QUOTED = 100


def yaml_repr(value: Any) -> str:
    """Show a value the way the user wrote it in YAML, so messages quote it recognisably; cut
    to MAX_QUOTED characters when longer (a long string says its length)."""
    if isinstance(value, str) and len(value) > MAX_QUOTED:
        return f"{value[:MAX_QUOTED]!r}... ({len(value):,} characters)"
    text = _yaml_text(value)
    return text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + "..."


# The name the amount and --values messages use; every quoted value is brief.
brief_repr = yaml_repr


def _yaml_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def shorten(text: str, limit: int = MAX_QUOTED) -> str:
    """`text` when short, else its first `limit` characters and its length."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def did_you_mean(word: str, allowed: list[str] | tuple[str, ...]) -> str:
    """A '; did you mean X?' suffix, or '' when nothing is close.

    Tries a case-insensitive exact match, then close spellings, then names that contain the
    word (so 'UNet' suggests both UNets).
    """
    if not isinstance(word, str) or not word:
        return ""
    lowered = {a.lower(): a for a in allowed}
    if word.lower() in lowered:
        return f"; did you mean {lowered[word.lower()]!r}?"
    close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    containing = [a for a in allowed if len(word) >= 3 and word.lower() in a.lower()]
    if 0 < len(containing) <= 3:
        return "; did you mean " + " or ".join(repr(a) for a in containing) + "?"
    # Names that start or end like the word ('UNet2' -> 'ClassicUNet', 'ModernUNet').
    w = word.lower()
    ends = [
        a
        for a in allowed
        if len(w) >= 3
        and max(
            difflib.SequenceMatcher(None, w, a.lower()[-len(w) :]).ratio(),
            difflib.SequenceMatcher(None, w, a.lower()[: len(w)]).ratio(),
        )
        >= 0.75
    ]
    if 0 < len(ends) <= 3:
        return "; did you mean " + " or ".join(repr(a) for a in ends) + "?"
    return ""


def one_of(allowed: list[str] | tuple[str, ...]) -> str:
    return ", ".join(repr(a) for a in allowed)
