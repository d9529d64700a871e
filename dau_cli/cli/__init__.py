"""The `dau` command line. Importing this does not import torch, so `dau --help` is instant."""

from __future__ import annotations

import typer

from dau_cli.cli.compare import compare, demo
from dau_cli.cli.forget import forget
from dau_cli.cli.audit import audit
from dau_cli.cli.info import info, recipes_app, runs_app
from dau_cli.cli.prune import prune
from dau_cli.cli.train import train
from dau_cli.cli.tui import tui

app = typer.Typer(
    name="dau",
    help="Make trained image classifiers forget: train, prune, unlearn (Discriminative Adversarial "
    "Unlearning), and audit with membership-inference attacks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("train")(train)
app.command("forget")(forget)
app.command("compare")(compare)
app.command("demo")(demo)
app.command("info")(info)
app.command("audit")(audit)
app.command("prune")(prune)
app.command("tui")(tui)
app.add_typer(runs_app, name="runs")
app.add_typer(recipes_app, name="recipes")


def main() -> None:
    app()
