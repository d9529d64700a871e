"""Fitting text into a width without cutting a number: words and fields are dropped whole and an
ellipsis says so; table columns leave or narrow in a set order; charts get a least height
(no Textual, no torch: pure functions, tested without a terminal)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text

ELLIPSIS = "…"
#: Where a word may end: a long name is cut after one of these, never inside a word or a number.
BREAKS = " -_/.,:;·()"
#: A number, which is never cut: `-0.41`, `62.8`, `1,000`, `1e-05`, `10:30`, `10/20/40`.
NUMBER = re.compile(r"[-+]?\d+(?:[.,:/]\d+)*(?:e[-+]?\d+)?")


def clip_words(text: str, width: int) -> str:
    """`text` in at most `width` cells: whole if it fits, else its longest start that ends at a
    word break, plus `…` (just `…` where not even the first word fits)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    inside = {i for m in NUMBER.finditer(text) for i in range(m.start() + 1, m.end())}
    for cut in range(width - 1, 0, -1):
        kept = text[:cut].rstrip(" ,;:·(")
        # at a word break, never inside a number nor just after one (`62.8…` reads as a number cut short)
        if (text[cut] in BREAKS or text[cut - 1] in BREAKS) and cut not in inside and kept and not kept[-1].isdigit():
            return kept + ELLIPSIS
    return ELLIPSIS


def clip_text(text: Text, width: int) -> Text:
    """A styled line clipped as `clip_words` clips its plain text (styles kept)."""
    plain = text.plain
    if len(plain) <= width:
        return text
    clipped = clip_words(plain, width)
    out = text[: len(clipped) - 1] if clipped.endswith(ELLIPSIS) else text[: len(clipped)]
    if clipped.endswith(ELLIPSIS):
        out.append(ELLIPSIS, "dim")
    return out


def fit_fields(fields: Sequence[str], width: int, sep: str = "  ") -> str:
    """As many whole fields (e.g. `ua=12.4`) as fit in `width`, in order, then `…` if any were left out."""
    out = ""
    for i, field in enumerate(fields):
        joined = field if not out else out + sep + field
        more = i < len(fields) - 1
        if len(joined) + (len(sep) + 1 if more else 0) <= width or (not more and len(joined) <= width):
            out = joined
            continue
        return (out + sep + ELLIPSIS) if out and len(out) + len(sep) + 1 <= width else (out or ELLIPSIS[: max(width, 0)])
    return out


@dataclass(frozen=True)
class Piece:
    """A part of a line: `rank` 0 always stays, higher ranks leave first. A flexible piece (`least`
    over 0: a bar) takes the room the others leave, from `least` to its text's length, and is
    drawn at that width by `draw` (or its text is cut there)."""

    text: Text
    rank: int = 0
    gap: int = 2  # spaces before it (none before the first piece shown)
    least: int = 0
    draw: Callable[[int], Text] | None = None


def piece(text: str | Text, rank: int = 0, style: str = "", gap: int = 2) -> Piece:
    return Piece(text if isinstance(text, Text) else Text(text, style), rank, gap)


def fit_pieces(pieces: Sequence[Piece], width: int) -> list[tuple[Piece, int]]:
    """The pieces that fit in `width`, in their order, each with the width it gets: whole pieces
    leave by rank (highest first, the later first among equals); a flexible piece gets the room
    the others leave, up to its length. The rank-0 pieces stay even where they overflow."""
    kept = list(pieces)

    def need(ps: Sequence[Piece]) -> int:
        return sum((p.least or p.text.cell_len) + (p.gap if i else 0) for i, p in enumerate(ps))

    while need(kept) > width:
        worst = max((p.rank for p in kept), default=0)
        if worst == 0:
            break
        kept.pop(max(i for i, p in enumerate(kept) if p.rank == worst))
    spare = max(0, width - need(kept))
    out = []
    for p in kept:
        grow = min(p.text.cell_len - p.least, spare) if p.least else 0
        spare -= grow
        out.append((p, (p.least + grow) if p.least else p.text.cell_len))
    return out


def join_pieces(pieces: Sequence[Piece], width: int) -> Text:
    """The line of `fit_pieces`. A rank-0 piece that still overflows is clipped at a word break."""
    out = Text()
    for i, (p, w) in enumerate(fit_pieces(pieces, width)):
        if i:
            out.append(" " * p.gap)
        if p.least:
            out.append_text(p.draw(w) if p.draw else p.text[:w])
        else:
            out.append_text(p.text)
    return clip_text(out, width) if out.cell_len > width else out


def bar(percent: float, width: int, style: str | None = None, rest: str = "grey37", full: str = "█",
        empty: str = "░") -> Text:
    """A horizontal bar `width` cells long, filled to `percent`; green to red with load unless `style` says."""
    percent = max(0.0, min(100.0, percent))
    done = round(percent / 100 * width)
    colour = style or ("green" if percent < 60 else "yellow" if percent < 85 else "red")
    return Text.assemble((full * done, colour), (empty * (width - done), rest))


# ----------------------------------------------------------------------------- the runs table


@dataclass(frozen=True)
class Column:
    key: str
    width: int  # its widest cell or heading
    least: int = 0  # the width it may narrow to (its cells are clipped at word breaks); 0: never narrows
    compact: int = 0  # its width in a compact form (the status as its sign alone); 0: none


@dataclass(frozen=True)
class Fitted:
    widths: dict[str, int]  # the shown columns, in their order, with their widths
    compact: frozenset[str] = frozenset()


def fit_columns(columns: Sequence[Column], width: int, steps: Sequence[tuple[str, str]], padding: int = 2) -> Fitted:
    """Which columns show and how wide, so the table fits `width` cells (`padding` per column).

    `steps` say what gives way, in order, until it fits: (key, "narrow") narrows a column toward
    its least width, (key, "compact") switches it to its compact form, (key, "drop") takes it out.
    Then the room a later step freed is given back, the last step taken first undone: a column
    dropped returns (narrowed where it may), one made compact is whole again, one narrowed widens.
    Columns no step names always stay whole; if they alone overflow, the table scrolls.
    """
    by_key = {c.key: c for c in columns}
    widths = {c.key: c.width for c in columns}
    compact: set[str] = set()

    def over() -> int:
        return sum(w + padding for w in widths.values()) - width

    taken = []
    for key, action in steps:
        if over() <= 0:
            break
        col = by_key.get(key)
        if col is None or key not in widths or (action == "compact" and not col.compact) or (
                action == "narrow" and not col.least):
            continue
        taken.append((key, action))
        if action == "drop":
            del widths[key]
        elif action == "compact":
            widths[key] = min(widths[key], col.compact)
            compact.add(key)
        else:
            widths[key] = max(col.least, widths[key] - over())
    for key, action in reversed(taken):  # give back what fits, the last to give way first
        col = by_key[key]
        room = -over() - padding
        if action == "drop" and key not in widths and room >= (col.least or col.width):
            widths[key] = min(col.width, room)
        elif action == "compact" and key in compact and key in widths and over() + col.width - widths[key] <= 0:
            widths[key] = col.width
            compact.discard(key)
        elif action == "narrow" and key in widths and over() < 0:
            widths[key] = min(col.width, widths[key] - over())
    return Fitted({c.key: widths[c.key] for c in columns if c.key in widths}, frozenset(compact))


# ----------------------------------------------------------------------------- the charts' grid

#: The least height of a chart, its border included: below it a chart is an empty frame.
CHART_HEIGHT = 8
#: The least width of a chart, its border included.
CHART_WIDTH = 34


@dataclass(frozen=True)
class Grid:
    columns: int
    rows: int
    shown: tuple[str, ...]  # the charts drawn, in the grid's order
    spans: dict[str, int]  # columns each shown chart spans (more than 1: a wide chart)


def chart_grid(charts: Sequence[tuple[str, int]], width: int, height: int) -> Grid:
    """Which charts fit in `width` × `height` cells, each at least CHART_WIDTH × CHART_HEIGHT.

    `charts` are (name, columns it would span) in the order they matter; the first that fit are
    drawn, the others are left to a line of numbers. The last chart of a row widens to its end.
    """
    columns = max(1, min(3, width // CHART_WIDTH))
    rows_fit = height // CHART_HEIGHT
    rows: list[list[str]] = []
    spans: dict[str, int] = {}
    free = 0  # columns left in the last row
    for name, span in charts:
        span = max(1, min(span, columns))
        if span > free:
            if len(rows) == rows_fit:
                break
            if rows:
                spans[rows[-1][-1]] += free
            rows.append([])
            free = columns
        rows[-1].append(name)
        spans[name] = span
        free -= span
    if rows:
        if len(rows) == 1:  # one row: its charts share the width
            columns -= free
        else:
            spans[rows[-1][-1]] += free
    shown = tuple(n for row in rows for n in row)
    return Grid(columns if rows else 0, len(rows), shown, spans)

