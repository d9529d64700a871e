"""The audit's verdicts and tests by name, and how the terminal and the dashboard show a verdict.

The verdict's rules are engine/verdict.py's (docs/audit.md, "The verdict"); this module holds
only words and colours, so the engine, the terminal and the dashboard share them (no torch, no
numpy, no Textual; Rich only inside `styled_verdict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

#: The verdicts `dau audit` gives, in the order docs/audit.md explains them.
VERDICTS = ("forgotten", "not forgotten", "superficial", "over-forgotten", "no reference")

#: One colour per verdict, the same in the terminal and the dashboard.
VERDICT_STYLE = {
    "forgotten": "bold green",
    "not forgotten": "bold red",
    "superficial": "bold magenta",
    "over-forgotten": "bold yellow",
    "no reference": "bold",
}


@dataclass(frozen=True)
class Label:
    """How one of the verdict's four tests is called where it is shown."""

    title: str  # in the verdict's reasons (`dau audit`)
    short: str  # in the dashboard's verdict panel
    column: str  # its number in a `dau compare` cell; {} stands for a relearning step count
    head: str  # that number's column head in `dau compare`'s tables


#: The four tests (docs/audit.md, "The verdict"), in the order the reasons list them.
TESTS = {
    "output": Label("output", "output", "output_z", "output z"),
    "lira": Label("membership (LiRA, IN vs OUT)", "membership (LiRA)", "lira", "LiRA"),
    "relearn": Label("relearning", "relearning", "relearn_{}", "relearn {} %"),
    "probe": Label("representation probe", "probe", "probe", "probe %"),
}
MEMBERSHIP_TESTS = ("output", "lira")  # two-sided: above is remembering, below over-forgetting
TAMPER_TESTS = ("relearn", "probe")  # one-sided: above means the data is still there


def styled_verdict(verdict: str, upper: bool = False) -> Text:
    """A verdict in its colour (in capitals for the dashboard's panel)."""
    from rich.text import Text

    return Text(verdict.upper() if upper else verdict, VERDICT_STYLE.get(verdict, "bold"))


def verdict_markup(verdict: str) -> str:
    """A verdict in its colour, as console markup (for table cells and printed lines)."""
    return styled_verdict(verdict).markup
