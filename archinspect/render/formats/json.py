"""JSON; keys follow the README's JSON sections and are stable."""

from __future__ import annotations

import json


def dumps(data: object) -> str:
    return json.dumps(data, indent=2) + "\n"
