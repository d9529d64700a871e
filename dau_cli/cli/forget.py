"""`dau forget`: unlearn a forget set from a checkpoint and write the unlearned checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from dau_cli.cli.tui import watch_in_dashboard
from dau_cli.cli.common import (
    CLASSES_OPTION,
    DATA_ROOT_OPTION,
    INDICES_OPTION,
    METHOD_OPTION,
    MethodName,
    RANDOM_OPTION,
    RECIPE_OPTION,
    SET_OPTION,
    TUI_OPTION,
    escape,
    check_forget_flags,
    forget_output,
    forget_tag,
    handle_errors,
    loading,
    note,
    open_run,
    out,
    pct,
    print_json,
    save_output,
)

@handle_errors
def forget(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by `dau train` (or `dau prune`)."),
    classes: Optional[str] = CLASSES_OPTION,
    random: Optional[float] = RANDOM_OPTION,
    indices: Optional[Path] = INDICES_OPTION,
    method: MethodName = METHOD_OPTION,
    recipe: Optional[str] = RECIPE_OPTION,
    sets: list[str] = SET_OPTION,
    seed: int = typer.Option(0, help="Seed of the forget-set draw (--random) and of the method."),
    device: Optional[str] = typer.Option(None, help="auto, cpu, cuda or mps (default: the checkpoint's recipe)."),
    data_root: Optional[Path] = DATA_ROOT_OPTION,
    out_path: Optional[Path] = typer.Option(None, "-o", "--out", help="Output (default beside the input, named for what was done: "
                                            "digits-cnn-forget-dau-class3.pt)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    tui: bool = TUI_OPTION,
) -> None:
    """Make a model forget: a class, a random fraction, or listed samples.

    Writes a new checkpoint (the input is never touched) and prints UA, RA, TA and
    MIA-Efficacy of the original and the unlearned model, and the time taken.

    \b
    Examples:
      dau forget digits-cnn.pt --classes 3     # -> digits-cnn-forget-dau-class3.pt
      dau forget digits-cnn.pt --random 0.1 --method dau-authors
      dau forget digits-cnn.pt --classes 3 --method retrain    # the reference
      dau forget digits-cnn.pt -c 3 -m salun --set salun.fraction=0.3
      dau forget digits-cnn.pt --classes 3 --tui
    """
    # Cheap checks first: a mistake is reported before torch is imported (well under a second).
    from dau_cli.config import as_dict, resolve
    from dau_cli.files import check_checkpoint, check_output
    from dau_cli.runs import check_home

    check_forget_flags(classes, random, indices)
    config = resolve(recipe, None, sets, uses=(method,),
                     command=f"dau forget --method {method}")
    check_checkpoint(checkpoint)
    target = check_output(out_path or forget_output(checkpoint, method, forget_tag(classes, random, indices, seed), config),
                          [checkpoint], force, need_bytes=checkpoint.stat().st_size)
    check_home()
    if tui:
        watch_in_dashboard()

    with loading("loading torch"):
        from dau_cli.engine import operations
        from dau_cli.engine.checkpoint import CheckpointView
    with loading(f"loading {checkpoint} and its data"):
        opened = operations.open_checkpoint(checkpoint, device, data_root,
                                            needs_recipe_for="--method retrain" if method == "retrain" else None)
        fs = operations.forget_set(opened, {"classes": classes, "random": random, "indices": indices}, seed)
    run_config = {"checkpoint": str(checkpoint), "dataset": CheckpointView(opened.ckpt).dataset, "method": method,
                  "seed": seed, "forget": fs.describe(),
                  method: as_dict(config)[method]}
    with open_run("forget", run_config, str(opened.device)) as run:
        done = operations.forget(opened, fs, method, config, run, seed=seed)
        summary, before = done.summary, done.original
        save_output(run, done.checkpoint, target, force,
                    {k: summary[k] for k in ("ua", "ra", "ta", "mia_efficacy", "wall_time_s")})
    result = {"checkpoint": str(target), "run_dir": str(run.dir), **summary, "original": before}
    if json_out:
        print_json(result)
        return
    t = Table(title=f"{method} on {fs.mode} forgetting ({fs.describe()['size']} samples)")
    t.add_column("model")
    for col in ("UA", "RA", "TA", "val acc", "MIA-Efficacy"):
        t.add_column(col, justify="right")
    t.add_row("original", *(pct(before[k]) for k in ("ua", "ra", "ta", "val_acc", "mia_efficacy")))
    t.add_row(f"[bold]{method}[/]", *(pct(summary[k]) for k in ("ua", "ra", "ta", "val_acc", "mia_efficacy")))
    out.print(t)
    out.print(f"unlearning took {summary['wall_time_s']:.2f} s on {summary['device']} "
              f"({summary['image_passes']:,} image passes); checkpoint: {escape(str(target))}")
    if fs.mode == "class":
        note("TA is on the remaining classes; retraining (--method retrain) is the target for every column.")
