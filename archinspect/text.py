"""User text made safe to print: control characters and lone surrogates shown as escapes.

A spec's name, its keys and values, and file paths reach terminals, CI logs and reports. An
escape character would drive the terminal (colours, cursor moves, hyperlinks), a carriage
return overwrite a line, a bidirectional override reorder it, and a lone surrogate (valid in a
YAML "\\ud800" escape, invalid in UTF-8) stop the output with an encoding error. Each is shown
instead as the escape a Python or YAML string would write for it (\\x1b, \\r, \\u202e, \\ud800),
so the text stays readable and nothing is lost or hidden.

A leaf module: the errors and every renderer use it.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, lone surrogates, and the bidirectional embeddings, overrides
# and isolates ("Trojan Source", CVE-2021-42574).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def visible(text: str, keep: str = "") -> str:
    """`text` with every unsafe character written as its escape; characters in `keep` (say
    "\\n" for a multi-line message) are left as they are. Safe text is returned unchanged."""
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()), text)
