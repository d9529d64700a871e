"""The `dau` command line. Importing this does not import torch, so `dau --help` is instant."""

from __future__ import annotations

import typer

from dau_cli.cli.info import info, recipes_app, runs_app
from dau_cli.cli.train import train

app = typer.Typer(
    name="dau",
    help="Make trained image classifiers forget: train, prune, unlearn (Discriminative Adversarial "
    "Unlearning), and audit with membership-inference attacks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("train")(train)
app.command("info")(info)
app.add_typer(runs_app, name="runs")
app.add_typer(recipes_app, name="recipes")


def main() -> None:
    app()
