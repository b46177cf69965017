"""`archinspect validate --format json|github`: each spec, valid or with its located problems,
for editors (JSON) and CI (GitHub workflow commands, one annotation per problem line)."""

from __future__ import annotations

from archinspect.render.formats.github import spec_error_commands
from archinspect.render.formats.json import dumps
from archinspect.report import CheckError, ValidateReport
from archinspect.text import visible


def _problems(error: CheckError) -> list[dict[str, object]]:
    return [
        {
            "file": p.location.source if p.location is not None else error.spec,
            "line": p.location.line if p.location is not None else None,
            "column": p.location.column if p.location is not None else None,
            "path": p.path,
            "message": p.message,
        }
        for p in error.problems
    ]


def validate_json(report: ValidateReport) -> str:
    """{"specs": [{"spec", "valid", "message", "problems": [{file, line, column, path,
    message}]}], "valid": every spec is valid}; a problem without a position has null line and
    column; an error that is not about the spec's content (a missing file) has no problems."""
    specs = []
    for spec, error in report.results:
        if error is None:
            specs.append({"spec": spec, "valid": True, "message": None, "problems": []})
        else:
            specs.append(
                {
                    "spec": spec,
                    "valid": False,
                    "message": error.message,
                    "problems": _problems(error),
                }
            )
    return dumps({"specs": specs, "valid": not report.errors})


def validate_github(report: ValidateReport) -> str:
    """An ::error per located problem (on its line), or one per file for an unlocated error;
    then a plain summary line."""
    lines: list[str] = []
    for _, error in report.results:
        if error is not None:
            lines += spec_error_commands(error)
    n, bad = len(report.results), len(report.errors)
    summary = f"{n} spec{'s' if n != 1 else ''}: {n - bad} valid, {bad} invalid"
    lines.append(visible(summary))
    return "\n".join(lines) + "\n"
