"""`dau import`: a model trained elsewhere as a checkpoint that forget, prune and audit can use."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dau_cli.cli.common import escape, handle_errors, loading, note, open_run, out, pct, print_json, save_output
from dau_cli.errors import DauError


def _numbers(text: str | None, flag: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise DauError(f"{flag} takes numbers separated by commas, e.g. {flag} 0.5 or {flag} 0.485,0.456,0.406, "
                       f"got '{text}'") from None


def _check_flags(weights: Path, train_indices: Path | None, arch: str | None, torchvision_name: str | None,
                 recipe: str | None, dataset: str | None, width: int | None) -> None:
    """What the flags must say on their own, before anything is loaded."""
    from dau_cli.files import check_input

    check_input(weights, "give the file the model's weights were saved to")
    if train_indices is not None:
        check_input(train_indices, "list the positions the model was trained on, one per line")
    if arch is not None and torchvision_name is not None:
        raise DauError("give --arch (a dau architecture) or --torchvision NAME, not both")
    if recipe is None and dataset is None:
        raise DauError("say which data set the model was trained on with --dataset NAME (or --recipe)")
    if recipe is None and arch is None and torchvision_name is None:
        raise DauError("say which architecture the weights are for with --arch NAME or --torchvision NAME "
                       "(or --recipe)")
    if width is not None and (torchvision_name is not None or (arch or "cnn") != "cnn"):
        raise DauError("--width applies to --arch cnn only")


@handle_errors
def import_(
    weights: Path = typer.Argument(..., help="A state dict saved with torch.save, or a .safetensors file."),
    arch: Optional[str] = typer.Option(None, "--arch", help="The dau architecture the weights are for: cnn, lenet, "
                                       "resnet18 or vgg16_bn (`dau train --model` names)."),
    torchvision_name: Optional[str] = typer.Option(None, "--torchvision", metavar="NAME",
                                                   help="The weights are a torchvision classification model's, "
                                                        "e.g. resnet18 or mobilenet_v3_small."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="The data set it was trained on: fashion-mnist, "
                                          "mnist, cifar10, cifar100, svhn, digits or folder:PATH."),
    recipe: Optional[str] = typer.Option(None, "--recipe", "-r", help="How it was trained (a preset or .toml): "
                                         "needed to train reference models for the audit's verdict and to retrain."),
    train_indices: Optional[Path] = typer.Option(None, "--train-indices", metavar="FILE",
                                                 help="The positions it was trained on (default: every official "
                                                      "training image)."),
    mean: Optional[str] = typer.Option(None, "--mean", help="Per-channel mean its inputs were normalised with, "
                                       "on [0, 1] pixels (default 0; a dau model's own file records it)."),
    std: Optional[str] = typer.Option(None, "--std", help="Per-channel standard deviation, likewise (default 1)."),
    width: Optional[int] = typer.Option(None, "--width", help="Channels of the first block (--arch cnn only)."),
    data_root: Optional[Path] = typer.Option(None, help="Where the dataset lives (default <DAU_HOME>/data)."),
    download: bool = typer.Option(False, "--download", help="Download the dataset if it is missing."),
    sets: list[str] = typer.Option([], "--set", help="Set a data option, e.g. --set data.image_size=64 for a folder."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps: where its accuracy is measured."),
    out_path: Optional[Path] = typer.Option(None, "-o", "--out", help="Checkpoint to write (default "
                                            "<weights>-imported.pt beside the weights)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Turn a model trained elsewhere into a dau checkpoint. Its accuracies are measured on the
    data set it names (a model at chance level is refused: wrong data, class order or --mean/--std).

    \b
    Without --recipe, audit runs every test that needs no reference and says that a recipe is
    needed for a verdict; `forget --method retrain` and `audit --references` are refused.

    \b
    Examples:
      dau import lenet.pt --arch lenet --dataset fashion-mnist --recipe fashion-lenet
      dau import model.safetensors --torchvision resnet18 --dataset cifar10 --mean 0.49,0.48,0.45 --std 0.25
      dau import net.pt --arch cnn --width 64 --dataset digits --train-indices trained-on.txt
    """
    from dau_cli.config import as_dict, resolve
    from dau_cli.files import check_output
    from dau_cli.runs import check_home

    _check_flags(weights, train_indices, arch, torchvision_name, recipe, dataset, width)
    mean_values, std_values = _numbers(mean, "--mean"), _numbers(std, "--std")
    flags = {"data.dataset": dataset, "model.arch": arch, "model.width": width,
             "data.data_root": str(data_root) if data_root else None, "data.download": download or None}
    config = resolve(recipe, flags, sets, uses=("data", "model"), command="dau import")
    dc, mc = config["data"], config["model"]
    name, arch_args = ("torchvision", {"name": torchvision_name}) if torchvision_name else \
        (mc.arch, {"width": mc.width} if mc.arch == "cnn" else {})
    target = check_output(out_path or weights.with_name(f"{weights.stem}-imported.pt"), [weights], force)
    check_home()
    with loading("loading torch"):
        from dau_cli.engine.importing import import_checkpoint
        from dau_cli.engine.train import pick_device

    dev = pick_device(device)
    told = {**as_dict(config), "weights": str(weights), "torchvision": torchvision_name, "mean": mean, "std": std,
            "train_indices": str(train_indices) if train_indices else None, "recipe": recipe}
    with open_run("import", told, str(dev)) as run:
        ckpt, summary = import_checkpoint(
            weights, arch=name, arch_args=arch_args, dataset=dc.dataset, data_root=dc.data_root or None,
            download=dc.download, options={"image_size": dc.image_size, "color": dc.color},
            train_indices=train_indices, recipe=as_dict(config) if recipe else None, mean=mean_values,
            std=std_values, device=dev, sink=run)
        save_output(run, ckpt, target, force, summary)
    result = {"checkpoint": str(target), "run_dir": str(run.dir), **summary}
    if json_out:
        print_json(result)
        return
    shown = torchvision_name or name
    n = summary["splits"]
    out.print(f"imported {escape(shown)} for {escape(ckpt['data']['dataset'])} ({n['train']:,} train, "
              f"{n['val']:,} val, {n['test']:,} test images): train {pct(summary['train_acc'])} %, val "
              f"{pct(summary['val_acc'])} %, [bold]test accuracy {pct(summary['test_acc'])} %[/]")
    if not recipe:
        note("no --recipe: audit will give no verdict (a recipe is needed to train reference models)")
    out.print(escape(f"checkpoint: {target}   run: {run.dir}"))
