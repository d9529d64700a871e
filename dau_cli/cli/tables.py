"""Tables that fit the terminal: columns leave by priority when there is no room, a column may
wrap where it says so, and an id column is never cut."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


#: Narrowest a wrapping column gets; narrower, it would stack one word a line.
WRAP_MIN = 18


@dataclass(frozen=True)
class Col:
    header: str
    justify: str = "left"
    keep: int = 0  # 0: always shown; otherwise the column leaves at a narrow width, highest first
    wrap: bool = False  # may wrap onto more lines (free text); other columns are never cut


def fit(console: Console, cols: Sequence[Col], rows: Sequence[Sequence[str | Text]], title: str | None = None,
        caption: str | None = None) -> tuple[Table, list[str]]:
    """A table of `rows` no wider than the console, and the headers of the columns left out."""
    shown = list(range(len(cols)))
    while True:
        table = _table(cols, rows, shown, title, caption)
        need = Measurement.get(console, console.options.update_width(10**6), table).minimum  # unclamped
        droppable = [i for i in shown if cols[i].keep]
        if need <= console.width or not droppable:
            return table, [cols[i].header for i in range(len(cols)) if i not in shown]
        shown.remove(max(droppable, key=lambda i: (cols[i].keep, i)))


def _width(cell: str | Text) -> int:
    text = cell if isinstance(cell, Text) else Text.from_markup(cell)
    return max((Text(line).cell_len for line in text.plain.splitlines()), default=0)


def _table(cols: Sequence[Col], rows: Sequence[Sequence[str | Text]], shown: list[int], title: str | None,
           caption: str | None) -> Table:
    t = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
              collapse_padding=True, title_justify="left", caption_justify="left")
    for i in shown:
        c = cols[i]
        # a column that may not wrap claims its whole width, so measuring the table counts it whole
        natural = max([_width(c.header), *(_width(row[i]) for row in rows)])
        t.add_column(c.header, justify=c.justify, no_wrap=not c.wrap, overflow="fold",
                     min_width=min(natural, WRAP_MIN) if c.wrap else natural)
    for row in rows:
        t.add_row(*(row[i] for i in shown))
    return t


def left_out(dropped: list[str]) -> str:
    """The note under a table whose columns did not all fit."""
    return f"left out at this width: {', '.join(dropped)} (a wider terminal or --json shows them)"
