"""Renderers for `archinspect families`."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from archinspect.families import Family
from archinspect.render.json import dumps
from archinspect.render.table import to_text
from archinspect.spec.messages import yaml_repr


def _default(arg) -> str:
    return "(required)" if arg.required else yaml_repr(arg.default)


def families_data(families: list[Family]) -> dict:
    return {
        "families": [
            {
                "name": f.name,
                "summary": f.summary,
                "arguments": [
                    {
                        "name": a.name,
                        "type": a.type_name(),
                        "required": a.required,
                        "default": None if a.required else a.default,
                        "help": a.help,
                    }
                    for a in f.all_args
                ],
                "notes": list(f.notes),
            }
            for f in families
        ]
    }


def families_json(families: list[Family]) -> str:
    return dumps(families_data(families))


def families_table(
    families: list[Family], *, detail: bool, width: int = 120, color: bool = False
) -> str:
    if not detail:
        table = Table(
            title="built-in families (archinspect families NAME for arguments)",
            title_justify="left",
        )
        table.add_column("family", no_wrap=True)
        table.add_column("what it is")
        table.add_column("arguments")
        for f in families:
            table.add_row(Text(f.name), Text(f.summary), Text(", ".join(a.name for a in f.args)))
        return to_text([table], width=width, color=color)
    items: list[Table | Text] = []
    for f in families:
        table = Table(title=f"{f.name}: {f.summary}", title_justify="left")
        table.add_column("argument", no_wrap=True)
        table.add_column("type", no_wrap=True)
        table.add_column("default", no_wrap=True)
        table.add_column("meaning")
        for a in f.all_args:
            table.add_row(Text(a.name), Text(a.type_name()), Text(_default(a)), Text(a.help))
        items.append(table)
        items += [Text(f"note: {n}") for n in f.notes]
    return to_text(items, width=width, color=color)


def families_markdown(families: list[Family]) -> str:
    lines = []
    for f in families:
        lines += [
            f"### {f.name}",
            "",
            f.summary,
            "",
            "| argument | type | default | meaning |",
            "|---|---|---|---|",
        ]
        for a in f.all_args:
            lines.append(
                f"| {a.name} | {a.type_name().replace('|', chr(92) + '|')} | "
                f"{_default(a)} | {a.help} |"
            )
        lines.append("")
    return "\n".join(lines)


def families_csv(families: list[Family]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["family", "argument", "type", "required", "default", "help"])
    for f in families:
        for a in f.all_args:
            writer.writerow(
                [
                    f.name,
                    a.name,
                    a.type_name(),
                    a.required,
                    "" if a.required else yaml_repr(a.default),
                    a.help,
                ]
            )
    return buffer.getvalue()
