"""The key help, over whatever screen is showing."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("?", "this help"),
    ("q", "quit; a job started with --tui keeps running"),
    ("k", "kill the job started with --tui, then quit"),
    ("↑ ↓", "pick a run in the list"),
    ("enter", "open the picked run"),
    ("esc", "back to the runs list (backspace too)"),
    ("r", "refresh: re-read the list, or the run from the start"),
    ("p", "next ROC pair (forget_vs_val, retain_vs_test)"),
]

ABOUT = (
    "Charts: attacker and defender losses (ce, adv, bt) by step; accuracies and each "
    "membership attack's AUC by epoch (0.5: the attack cannot tell members from non-members); "
    "the audit's ROC curves on a log FPR axis. Esc closes this."
)


class HelpScreen(ModalScreen):
    """The keys, over whatever screen is showing."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen #help {
        width: 70;
        height: auto;
        border: round $accent;
        padding: 1 2;
        background: $surface;
    }
    """

    def compose(self) -> ComposeResult:
        out = Text()
        out.append("dau tui: keys\n\n", "bold")
        for key, what in KEYS:
            out.append(f"{key:>7}  ", "bold cyan")
            out.append(f"{what}\n")
        out.append("\n" + ABOUT, "dim")
        yield Static(out, id="help")
