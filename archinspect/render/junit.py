"""JUnit XML for `check`: one testcase per spec and budget, a <failure> per exceeded budget,
an <error> per spec that could not be checked. Readable by CI systems (GitLab, Jenkins, ...)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from archinspect.render.check_data import value_text
from archinspect.render.check_text import budget_message
from archinspect.report import CheckReport


def check_junit(report: CheckReport) -> str:
    root = ET.Element("testsuites", name="archinspect check")
    by_spec: dict[str, list] = {}
    for r in report.results:
        by_spec.setdefault(r.spec, []).append(r)
    for e in report.errors:
        by_spec.setdefault(e.spec, [])
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for spec, results in by_spec.items():
        errors = [e.message for e in report.errors if e.spec == spec]
        failures = sum(1 for r in results if not r.ok)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=spec,
            tests=str(len(results) + len(errors)),
            failures=str(failures),
            errors=str(len(errors)),
            skipped="0",
        )
        for r in results:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"archinspect.{r.name}",
                name=r.budget,
                file=spec,
            )
            if r.line is not None:
                case.set("line", str(r.line))
            if not r.ok:
                failure = ET.SubElement(
                    case, "failure", message=budget_message(r), type="BudgetExceeded"
                )
                failure.text = f"limit {value_text(r.limit)}, actual {value_text(r.actual)}" + (
                    f" ({spec}:{r.line})" if r.line else " (limit from the command line)"
                )
        for message in errors:
            case = ET.SubElement(suite, "testcase", classname="archinspect", name="spec", file=spec)
            error = ET.SubElement(case, "error", message=message.splitlines()[0], type="SpecError")
            error.text = message
        totals["tests"] += len(results) + len(errors)
        totals["failures"] += failures
        totals["errors"] += len(errors)
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
