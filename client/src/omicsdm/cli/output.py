"""How the client commands print lists: a table for people, tab-separated lines for pipes, JSON for scripts.

Ids are never cut: a table folds names and other text instead (`--wide` folds nothing), and when stdout is
not a terminal (`omicsdm ls | grep ...`) or with `--tsv`, every row is one line of tab-separated fields
with a header line. Names sort as people read them: case-insensitive, numbers by value (run2 < run10).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

Format = Literal["table", "tsv", "json"]
TsvOpt = Annotated[
    bool, typer.Option("--tsv", help="Tab-separated lines with a header (the default when stdout is not a terminal)")
]
WideOpt = Annotated[bool, typer.Option("--wide", "-w", help="Fold nothing: every column at full width")]

_DIGITS = re.compile(r"(\d+)")
MIN_TEXT_WIDTH = 16


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key: case-insensitive, runs of digits compared as numbers ("Sample2" < "sample10")."""
    parts = _DIGITS.split(text.casefold())
    return tuple((0, int(p)) if i % 2 else (1, p) for i, p in enumerate(parts) if p)


def natural_sorted(items: Iterable[Any], key: Callable[[Any], str]) -> list[Any]:
    return sorted(items, key=lambda item: (natural_key(key(item)), key(item)))


def choose(console: Console, *, as_json: bool, tsv: bool) -> Format:
    if as_json:
        return "json"
    if tsv or not console.is_terminal:
        return "tsv"
    return "table"


@dataclass(frozen=True)
class Column:
    title: str
    kind: Literal["id", "text", "fixed"] = "fixed"  # id: never cut; text: may fold; fixed: short, kept whole


def _tsv_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def print_rows(
    console: Console,
    fmt: Format,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    wide: bool = False,
    json_rows: Sequence[Any] | None = None,
) -> None:
    """Print rows in the chosen format (JSON prints `json_rows`, the full objects)."""
    if fmt == "json":
        typer.echo(json.dumps(list(json_rows if json_rows is not None else rows), indent=2, default=str))
        return
    if fmt == "tsv":
        lines = ["\t".join(c.title for c in columns)]
        lines += ["\t".join(_tsv_field(v) for v in row) for row in rows]
        typer.echo("\n".join(lines))
        return
    # Every column gets an explicit width: ids and short fields their longest value (never cut); text
    # columns share what is left of the terminal and fold; --wide gives them their longest value too.
    longest = [max([len(c.title), *(len(row[i]) for row in rows)]) for i, c in enumerate(columns)]
    texts = [i for i, c in enumerate(columns) if c.kind == "text"]
    frame = 3 * len(columns) + 1  # rich's borders and padding
    fixed = sum(w for i, w in enumerate(longest) if i not in texts)
    widths = list(longest)
    if texts and not wide:
        room = console.width - frame - fixed
        for n, i in enumerate(sorted(texts, key=lambda i: longest[i])):  # short texts first, whole if they fit
            widths[i] = min(longest[i], max(MIN_TEXT_WIDTH, room // (len(texts) - n)))
            room -= widths[i]
    table = Table()
    for column, width in zip(columns, widths, strict=True):
        table.add_column(column.title, width=width, no_wrap=column.kind != "text", overflow="fold")
    for row in rows:
        table.add_row(*[escape(v) for v in row])
    # A console exactly as wide as the table: rich would otherwise shrink columns (and cut ids) to fit.
    needed = sum(widths) + frame
    sized = Console(file=console.file, width=needed, force_terminal=console.is_terminal, no_color=console.no_color)
    sized.print(table, crop=False)
