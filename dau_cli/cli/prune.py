"""`dau prune`: make a checkpoint sparse (omp, imp, synflow); forget and audit work on it unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer
from rich.table import Table

from dau_cli.cli.common import escape, handle_errors, loading, open_run, out, pct, print_json, save_output


def default_output(checkpoint: Path, method: str, sparsity: float) -> Path:
    """Beside the input, named for what was done: digits-cnn.pt -> digits-cnn-omp90.pt."""
    return checkpoint.with_name(f"{checkpoint.stem}-{method}{100 * sparsity:g}.pt")


PRUNERS = ("omp", "imp", "synflow")


def _pruner(name: str) -> str:
    """--method's check: a name that is no pruning method is one line with the closest one."""
    from dau_cli.settings import check_name

    return check_name(name, PRUNERS, "--method: unknown pruning method", "`dau prune -h` says what each does")


@handle_errors
def prune(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by `dau train` (or an earlier prune)."),
    method: Literal[PRUNERS] = typer.Option("omp", "--method", "-m", parser=_pruner,
                               help="omp (one-shot magnitude), imp (iterative magnitude) "
                               "or synflow (data-free, at initialisation)."),
    sparsity: float = typer.Option(..., "--sparsity", "-s", help="Fraction of conv and linear weights set to zero, "
                                   "in [0, 1), e.g. 0.9."),
    rounds: Optional[int] = typer.Option(None, help="imp: prune-retrain rounds (default: as many as --rate needs); "
                                         "synflow: scoring iterations (default 100)."),
    rate: Optional[float] = typer.Option(None, help="imp: fraction of the remaining weights pruned per round "
                                         "(default 0.2)."),
    rewind_epoch: Optional[int] = typer.Option(None, help="omp/imp: retrain from the original run's weights after "
                                               "this epoch (0 = its initialisation) instead of the trained weights."),
    retrain_epochs: Optional[int] = typer.Option(None, help="Epochs of retraining after pruning "
                                                 "(default: the recorded training epochs)."),
    retrain: bool = typer.Option(True, "--retrain/--no-retrain", help="Retrain after pruning with the recorded "
                                 "recipe (omp, synflow may skip it; imp needs it)."),
    device: Optional[str] = typer.Option(None, help="auto, cpu, cuda or mps (default: the recorded one)."),
    data_root: Optional[Path] = typer.Option(None, help="Where the dataset lives, if not where it was at training."),
    out_path: Optional[Path] = typer.Option(None, "-o", "--out", help="Checkpoint to write "
                                            "(default beside the input: NAME-<method><percent>.pt)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file (never the input)."),
    sets: list[str] = typer.Option([], "--set", help="Change the retraining recipe, e.g. --set train.lr=0.02."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Prune a checkpoint's conv and linear weights; pruned weights stay exactly 0 through forget.

    Masks are stored in the checkpoint and re-applied after every optimiser step of every later
    command. Retraining uses the training recipe recorded in the checkpoint.

    \b
    Examples:
      dau prune digits-cnn.pt --method omp --sparsity 0.9     # -> digits-cnn-omp90.pt
      dau prune digits-cnn.pt -m imp -s 0.9 --rate 0.2 --rewind-epoch 2
      dau prune digits-cnn.pt -m synflow -s 0.95 -o sparse.pt --json
    """
    from dataclasses import asdict

    from dau_cli.files import check_checkpoint, check_output
    from dau_cli.runs import check_home

    check_checkpoint(checkpoint)  # cheap checks before torch is imported
    target = check_output(out_path or default_output(checkpoint, method, sparsity), [checkpoint], force,
                          need_bytes=checkpoint.stat().st_size)
    check_home()

    from dau_cli.config import as_dict

    with loading("loading torch"):
        from dau_cli.engine import operations
        from dau_cli.engine.checkpoint import load_checkpoint
        from dau_cli.engine.prune import PruneConfig, check_prune, retrain_config
        from dau_cli.engine.train import pick_device

    ckpt = load_checkpoint(checkpoint)
    pc = PruneConfig(method, sparsity, rounds, rate, rewind_epoch, retrain)
    check_prune(ckpt, pc)
    config = retrain_config(ckpt, retrain_epochs, device, sets, retrain)
    dev = pick_device(config["train"].device)
    with open_run("prune", {**as_dict(config), "prune": asdict(pc)}, str(dev)) as run:
        done = operations.prune(ckpt, pc, config, run, data_root=str(data_root) if data_root else None)
        pruned, summary = done.checkpoint, done.summary
        save_output(run, pruned, target, force, {k: v for k, v in summary.items() if not isinstance(v, dict)})
    result = {"checkpoint": str(target), "input": str(checkpoint), "run_dir": str(run.dir), **summary}
    if json_out:
        print_json(result)
        return
    show(checkpoint, target, method, sparsity, pruned, summary, run.dir)


def show(checkpoint: Path, target: Path, method: str, sparsity: float, pruned: dict, summary: dict, run_dir: Path) -> None:
    """The sparsity of every prunable layer before and after, and the accuracy it cost."""
    t = Table(title=escape(f"{checkpoint} -> {target}  ({method})"))
    for col, just in (("layer", "left"), ("weights", "right"), ("sparsity before %", "right"),
                      ("sparsity after %", "right")):
        t.add_column(col, justify=just)
    sizes = {k: v.numel() for k, v in pruned["state_dict"].items()}
    for name, after in summary["sparsity_by_layer"].items():
        t.add_row(name, f"{sizes[name]:,}", pct(100 * summary["sparsity_by_layer_before"].get(name, 0.0)),
                  pct(100 * after))
    t.add_row("[bold]all prunable[/]", f"{sum(sizes[n] for n in summary['sparsity_by_layer']):,}",
              pct(100 * summary["sparsity_before"]), f"[bold]{pct(100 * summary['sparsity'])}[/]")
    out.print(t)
    out.print(f"test accuracy {pct(summary['test_acc_before'])} % -> [bold]{pct(summary['test_acc_after'])} %[/] "
              f"(target sparsity {100 * sparsity:g} %) in {summary['wall_time_s']:.1f} s on {summary['device']}, "
              f"{summary['image_passes']:,} image passes")
    out.print(escape(f"checkpoint: {target}   run: {run_dir}"))
