"""`dau info`, `dau runs ls`, `dau recipes ls|show`: look at what dau has made."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from dau_cli.cli.common import escape, handle_errors, out, pct, print_json


@handle_errors
def info(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by dau."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """What a checkpoint holds: architecture, data, splits, sparsity, metrics and lineage.

    Example:  dau info digits-cnn.pt --json
    """
    from dau_cli.files import check_checkpoint

    check_checkpoint(checkpoint)  # before torch is imported
    from dau_cli.engine.checkpoint import load_checkpoint, sparsity

    ckpt = load_checkpoint(checkpoint)
    overall, per_layer = sparsity(ckpt["state_dict"])
    lineage = [{k: v for k, v in e.items() if k not in ("config", "forget_indices")}
               | ({"forget_size": len(e["forget_indices"])} if "forget_indices" in e else {})
               for e in ckpt["lineage"]]
    report = {
        "checkpoint": str(checkpoint),
        "arch": ckpt["arch"],
        "arch_args": ckpt["arch_args"],
        "dataset": ckpt["data"]["dataset"],
        "data_root": ckpt["data"]["root"],
        "num_classes": ckpt["num_classes"],
        "class_names": ckpt.get("class_names", []),
        "splits": {k: len(v) for k, v in ckpt["data"]["splits"].items()},
        "sparsity": overall,
        "sparsity_by_layer": per_layer,
        "parameters": sum(t.numel() for n, t in ckpt["state_dict"].items() if t.is_floating_point()),
        "metrics": ckpt.get("metrics", {}),
        "lineage": lineage,
    }
    if json_out:
        print_json(report)
        return
    t = Table(title=escape(str(checkpoint)), show_header=False)
    t.add_row("architecture", f"{report['arch']} {report['arch_args'] or ''}")
    t.add_row("parameters", f"{report['parameters']:,}")
    t.add_row("dataset", escape(f"{report['dataset']} ({report['num_classes']} classes) from {report['data_root']}"))
    t.add_row("splits", ", ".join(f"{k} {v}" for k, v in report["splits"].items()))
    t.add_row("sparsity", f"{100 * overall:.1f} % of prunable weights are zero")
    t.add_row("metrics", ", ".join(f"{k} {pct(v) if isinstance(v, float) else v}" for k, v in report["metrics"].items()))
    out.print(t)
    lt = Table(title="lineage")
    for col in ("#", "operation", "when", "wall time (s)", "image passes", "device", "details"):
        lt.add_column(col)
    for i, e in enumerate(lineage, 1):
        details = ", ".join(f"{k}={e[k]}" for k in ("method", "mode", "forget_size", "sparsity") if k in e)
        lt.add_row(str(i), e["op"], time.strftime("%Y-%m-%d %H:%M", time.localtime(e["time"])),
                   f"{e['wall_time_s']:.1f}", f"{e['image_passes']:,}", e["device"], details)
    out.print(lt)


runs_app = typer.Typer(help="Run directories that dau commands leave behind.", no_args_is_help=True)


@runs_app.command("ls")
@handle_errors
def runs_ls(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List runs, newest first.  Example:  dau runs ls"""
    from dau_cli.runs import list_runs, runs_dir

    runs = list_runs()
    if json_out:
        print_json({"runs_dir": str(runs_dir()), "runs": runs})
        return
    t = Table(title=escape(f"runs in {runs_dir()}"))
    for col in ("run", "command", "status", "started", "duration", "headline"):
        t.add_column(col)
    for r in runs:  # list_runs gives well-formed records, damaged and lost runs included
        started, s = r["started"], r["summary"]
        end = r["ended"] or (time.time() if r["status"] == "running" else None)
        dur = f"{end - started:.1f} s" if started is not None and end is not None else "—"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started is not None else "—"
        head = ", ".join(f"{k} {pct(s[k])}" for k in ("test_acc", "ua", "ra", "ta", "mia_efficacy")
                         if isinstance(s.get(k), (int, float)))
        if r["status"] in ("damaged", "failed") and r.get("error"):
            head = r["error"]
        t.add_row(*(escape(str(c)) for c in (r["id"], r["command"], r["status"], when, dur, head)))
    out.print(t)


recipes_app = typer.Typer(help="Named presets (recipes/*.toml).", no_args_is_help=True)


@recipes_app.command("ls")
@handle_errors
def recipes_ls(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the presets.  Example:  dau recipes ls"""
    from dau_cli.config import list_recipes

    found = {name: (path, _first_comment(path)) for name, path in list_recipes().items()}
    if json_out:
        print_json({"recipes": [{"name": n, "path": str(p), "description": d} for n, (p, d) in found.items()]})
        return
    t = Table()
    t.add_column("recipe", no_wrap=True)
    t.add_column("what it is")
    for name, (_, what) in found.items():
        t.add_row(name, what)
    out.print(t)


def _first_comment(path: Path) -> str:
    return next((ln.lstrip("# ").strip() for ln in path.read_text().splitlines() if ln.startswith("#")), "")


@recipes_app.command("show")
@handle_errors
def recipes_show(
    name: str = typer.Argument(..., help="A name from `dau recipes ls`."),
    json_out: bool = typer.Option(False, "--json", help="Print the preset's values and every key as JSON."),
) -> None:
    """Print a preset and every key it can set.  Example:  dau recipes show digits-cnn"""
    from dau_cli.config import SECTIONS, describe_section, list_recipes, read_recipe

    values = read_recipe(name)
    path = list_recipes().get(name, Path(name))
    if json_out:
        keys = [{"key": key, "value": values.get(section, {}).get(key.split(".", 1)[1], default), "default": default,
                 "meaning": help_text} for section in SECTIONS for key, default, help_text in describe_section(section)]
        print_json({"name": name, "path": str(path), "recipe": values, "keys": keys})
        return
    out.print(path.read_text(), highlight=False, markup=False)
    t = Table(title="every key (recipe value, else default)")
    for col in ("key", "value", "meaning"):
        t.add_column(col)
    for section in SECTIONS:
        for key, default, help_text in describe_section(section):
            v = values.get(section, {}).get(key.split(".", 1)[1], default)
            t.add_row(key, repr(v), help_text)
    out.print(t)


@handle_errors
def methods(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """The unlearning methods that --method takes, one line each.  Example:  dau methods"""
    from dau_cli.methods import METHODS

    if json_out:
        print_json({"methods": [{"name": k, "description": v} for k, v in METHODS.items()]})
        return
    width = max(map(len, METHODS))
    for name, what in METHODS.items():
        out.print(f"{name:<{width}}  {what}", highlight=False)
