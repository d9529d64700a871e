"""`dau train`: train a classifier and write a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dau_cli.cli.tui import watch_in_dashboard
from dau_cli.cli.common import (TUI_OPTION, escape, handle_errors, loading, open_run, out, pct, print_json, save_output)


@handle_errors
def train(
    recipe: Optional[str] = typer.Option(None, "--recipe", "-r", help="Preset from `dau recipes ls`, or a .toml path."),
    dataset: Optional[str] = typer.Option(None, help="digits (embedded), fashion-mnist, mnist, cifar10, cifar100, "
                                          "svhn, or folder:PATH (one subfolder of images per class)."),
    model: Optional[str] = typer.Option(None, help="cnn, lenet, resnet18 or vgg16_bn."),
    epochs: Optional[int] = typer.Option(None, help="Passes over the training set."),
    batch_size: Optional[int] = typer.Option(None, help="Images per step."),
    lr: Optional[float] = typer.Option(None, help="Peak learning rate."),
    seed: Optional[int] = typer.Option(None, help="Seed of initialisation, order and augmentation."),
    device: Optional[str] = typer.Option(None, help="auto (CUDA, else MPS, else the CPU), cpu, cuda or mps."),
    data_root: Optional[Path] = typer.Option(None, help="Where the dataset lives (default <DAU_HOME>/data)."),
    download: bool = typer.Option(False, "--download", help="Download the dataset if it is missing."),
    out_path: Optional[Path] = typer.Option(None, "-o", "--out", help="Checkpoint to write (default <dataset>-<model>.pt)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
    sets: list[str] = typer.Option([], "--set", help="Override any recipe value, e.g. --set train.lr=0.05."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    tui: bool = TUI_OPTION,
) -> None:
    """Train a classifier and write a checkpoint that prune, forget and audit can use.

    \b
    Examples:
      dau train                       # digits + cnn, the embedded default
      dau train --recipe fashion-lenet              # Fashion-MNIST, ~90 % in under a minute on 2 cores
      dau train --recipe cifar10-resnet18 --download
      dau train --dataset folder:photos --model resnet18 --set data.image_size=64
      dau train --epochs 10 --set train.lr=0.1 -o digits.pt
      dau train --recipe fashion-lenet --tui        # watch it train in the dashboard
    """
    from dau_cli.config import as_dict, resolve

    flags = {"data.dataset": dataset, "model.arch": model, "train.epochs": epochs, "train.batch_size": batch_size,
             "train.lr": lr, "train.seed": seed, "train.device": device,
             "data.data_root": str(data_root) if data_root else None, "data.download": download or None}
    config = resolve(recipe, flags, sets, uses=("data", "model", "train"), command="dau train")
    from dau_cli.files import check_output
    from dau_cli.runs import check_home

    name = config["data"].dataset
    name = Path(name.split(":", 1)[1]).expanduser().resolve().name if name.startswith("folder:") else name
    target = check_output(out_path or Path(f"{name}-{config['model'].arch}.pt"), [], force)
    check_home()
    if tui:
        watch_in_dashboard()
    with loading("loading torch"):
        from dau_cli.engine import operations
        from dau_cli.engine.train import pick_device

    dev = pick_device(config["train"].device)
    with open_run("train", as_dict(config), str(dev)) as run:
        trained = operations.train(config, run)
        summary = trained.summary
        save_output(run, trained.checkpoint, target, force, summary)
    result = {"checkpoint": str(target), "run_dir": str(run.dir), **summary}
    if json_out:
        print_json(result)
        return
    out.print(f"trained {config['model'].arch} on {escape(name)} in {summary['wall_time_s']:.1f} s "
              f"on {summary['device']}: train {pct(summary['train_acc'])} %, val {pct(summary['val_acc'])} %, "
              f"[bold]test accuracy {pct(summary['test_acc'])} %[/]")
    out.print(escape(f"checkpoint: {target}   run: {run.dir}"))
