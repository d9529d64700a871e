"""The `dau` command line. Importing this does not import torch, so `dau --help` is instant."""

from __future__ import annotations

from typing import Optional

import typer

from dau_cli.cli import common
from dau_cli.cli.audit import audit
from dau_cli.cli.compare import compare, demo
from dau_cli.cli.forget import forget
from dau_cli.cli.importing import import_
from dau_cli.cli.info import info, methods, recipes_app
from dau_cli.cli.runs import runs_app
from dau_cli.cli.prune import prune
from dau_cli.cli.train import train
from dau_cli.cli.tui import tui

app = typer.Typer(
    name="dau",
    help="Make trained image classifiers forget: train, prune, unlearn (Discriminative Adversarial "
    "Unlearning), and audit with membership-inference attacks.",
    cls=common.OneLineErrors,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # click's plain help: paragraphs reflow to the terminal's width, and stay readable at 80 columns
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from dau_cli import __version__

        typer.echo(f"dau {__version__}")
        raise typer.Exit()


def _threads(value: Optional[str]) -> Optional[int]:
    """--threads N: torch's intra-op threads here, and the total that local job workers share (they
    read it from DAU_THREADS, set here). Torch is imported only when it is given."""
    if value is None:
        return None
    if not value.strip().isdecimal() or int(value) < 1:
        raise typer.BadParameter(f"takes a whole number of threads, at least 1, e.g. --threads 4; got {value!r}")
    import os

    import torch

    n = int(value)
    os.environ["DAU_THREADS"] = str(n)  # the job workers' share (dau_cli/engine/jobs.py: worker_threads)
    torch.set_num_threads(n)
    return n


@app.callback()
def main_options(
    version: Optional[bool] = typer.Option(None, "--version", "-V", callback=_version, is_eager=True,
                                           help="Print dau's version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or notes on stderr: results and "
                               "errors only."),
    threads: Optional[str] = typer.Option(None, "--threads", metavar="N", envvar="DAU_THREADS", callback=_threads,
                                          help="Use N CPU threads in all, e.g. dau --threads 4 audit m.pt: torch's "
                                          "threads in this process, and the total that --workers processes share "
                                          "(N // workers each, at least 1; handed to them in DAU_THREADS). Default: "
                                          "every core."),
) -> None:
    """Make trained image classifiers forget: train, prune, unlearn (Discriminative Adversarial Unlearning), and
    audit with membership-inference attacks.

    Start with `dau demo`; every command takes -h.
    """
    common.QUIET = quiet


app.command("train")(train)
app.command("import")(import_)
app.command("forget")(forget)
app.command("compare")(compare)
app.command("demo")(demo)
app.command("audit")(audit)
app.command("prune")(prune)
app.command("info")(info)
app.command("methods")(methods)
app.command("tui")(tui)
app.add_typer(runs_app, name="runs")
app.add_typer(recipes_app, name="recipes")


def main() -> None:
    import sys

    if sys.stdout is None:  # started with its standard output closed (`dau ... >&-`): results would be lost
        if sys.stderr is not None:
            sys.stderr.write("error: standard output is closed, and dau prints its results there; redirect it to a "
                             "file or to /dev/null\n")
        sys.exit(common.EXIT_USER_ERROR)
    app(prog_name="dau")
