"""`dau info`, `dau runs ls`, `dau recipes ls|show`: look at what dau has made."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from dau_cli.cli.common import escape, handle_errors, note, out, pct, print_json
from dau_cli.config import DATASET_SIZES
from dau_cli.errors import DauError


SHOWN = 20  # lineage entries (and forget operations) in the table: the newest; --json has them all


@handle_errors
def info(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by dau."),
    indices: Optional[Path] = typer.Option(None, "--indices", help="Write the forget set's dataset positions to "
                                           "this file, one a line: what `--indices` reads. The set is the one "
                                           "the checkpoint records, or the one --classes or --random choose."),
    classes: Optional[str] = typer.Option(None, "--classes", "-c", help="With --indices: these classes' samples."),
    random: Optional[float] = typer.Option(None, "--random", help="With --indices: this seeded fraction."),
    seed: int = typer.Option(0, "--seed", help="With --random: the seed of the draw (as forget's --seed)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --indices file."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """What a checkpoint holds: architecture, data, splits, sparsity, metrics, what it was made
    to forget, and its lineage.

    \b
    Examples:
      dau info digits-cnn-forget-dau-class3.pt
      dau info digits-cnn.pt --json
      dau info digits-cnn-forget-dau-class3.pt --indices forgot.txt   # then: dau forget ... --indices forgot.txt
      dau info digits-cnn.pt --random 0.1 --seed 1 --indices r10.txt
    """
    from dau_cli.files import check_checkpoint, check_output

    check_checkpoint(checkpoint)  # before torch is imported
    if (classes is not None or random is not None) and indices is None:
        raise DauError("--classes and --random choose a forget set to write with --indices FILE; add it")
    if indices is not None:
        check_output(indices, [checkpoint], force)
    from dau_cli.engine.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    if indices is not None:
        _write_indices(ckpt, checkpoint, indices, classes, random, seed, force)
        return
    report = _report(ckpt, checkpoint)
    if json_out:
        print_json(report)
        return
    _print_summary(ckpt, report, checkpoint)
    _print_lineage(report["lineage"])


def _report(ckpt: dict, checkpoint: Path) -> dict:
    """What `dau info --json` prints."""
    from dau_cli.engine.checkpoint import sparsity

    overall, per_layer = sparsity(ckpt["state_dict"])
    lineage = [{k: v for k, v in e.items() if k not in ("config", "forget_indices")}
               | ({"forget_size": len(e["forget_indices"])} if "forget_indices" in e else {}) | {"what": _did(e)}
               for e in ckpt["lineage"]]
    report = {
        "checkpoint": str(checkpoint),
        "arch": ckpt["arch"],
        "arch_args": ckpt["arch_args"],
        "dataset": ckpt["data"]["dataset"],
        "data_root": ckpt["data"]["root"],
        "data_size": ckpt["data"].get("size", DATASET_SIZES.get(ckpt["data"]["dataset"])),
        "fingerprint": ckpt["data"].get("fingerprint") or None,
        "data_options": ckpt["data"].get("options") or {},
        "num_classes": ckpt["num_classes"],
        "class_names": ckpt.get("class_names", []),
        "splits": {k: len(v) for k, v in ckpt["data"]["splits"].items()},
        "sparsity": overall,
        "sparsity_by_layer": per_layer,
        "parameters": sum(t.numel() for n, t in ckpt["state_dict"].items() if t.is_floating_point()),
        "metrics": ckpt.get("metrics", {}),
        "lineage": lineage,
    }
    return report


def _print_summary(ckpt: dict, report: dict, checkpoint: Path) -> None:
    t = Table(title=escape(str(checkpoint)), show_header=False)
    t.add_row("architecture", escape(f"{report['arch']} {report['arch_args'] or ''}"))
    t.add_row("parameters", f"{report['parameters']:,}")
    options = "".join(f", {k} {v}" for k, v in report["data_options"].items())
    t.add_row("dataset", escape(f"{report['dataset']}: {report['data_size']:,} images of "
                                f"{'x'.join(map(str, ckpt['data']['input_shape']))}, {report['num_classes']} classes"
                                f"{options}"))
    t.add_row("read from", escape(report["data_root"]))
    t.add_row("fingerprint", escape(report["fingerprint"] or "not recorded (made before dau recorded fingerprints)"))
    imported = ckpt["lineage"][0] if ckpt["lineage"] and ckpt["lineage"][0]["op"] == "import" else None
    if imported:
        t.add_row("imported", escape(f"{imported.get('file')} ({imported.get('sha256')})"))
        t.add_row("not checked", escape("; ".join(imported.get("unchecked", []))))
    t.add_row("splits", ", ".join(f"{k} {v}" for k, v in report["splits"].items()))
    t.add_row("sparsity", f"{100 * report['sparsity']:.1f} % of prunable weights are zero")
    t.add_row("metrics", escape(", ".join(f"{k} {pct(v) if isinstance(v, float) else v}"
                                          for k, v in report["metrics"].items())))
    forgets = [e for e in report["lineage"] if e["op"] == "forget"]
    shown_forgets = "; ".join(e["what"] for e in forgets[-SHOWN:])
    if len(forgets) > SHOWN:
        shown_forgets = f"{len(forgets)} forget operations; the last {SHOWN}: {shown_forgets}"
    t.add_row("forgotten", escape(shown_forgets) if forgets else "nothing (no forget in its lineage)")
    out.print(t)


def _print_lineage(lineage: list[dict]) -> None:
    """The newest SHOWN operations, one a row, fitted to the terminal."""
    from dau_cli.cli.tables import Col, fit, left_out

    cols = [Col("#"), Col("operation"), Col("what", wrap=True), Col("when", keep=3), Col("took s", justify="right",
            keep=1), Col("image passes", justify="right", keep=2), Col("device", keep=4)]
    rows = [[str(i), e["op"], escape(e["what"]), time.strftime("%Y-%m-%d %H:%M", time.localtime(e["time"])),
             f"{e['wall_time_s']:.1f}", f"{e['image_passes']:,}", escape(str(e["device"]))]
            for i, e in enumerate(lineage, 1)][-SHOWN:]
    lt, dropped = fit(out, cols, rows, title="lineage")
    out.print(lt)
    if dropped:
        note(left_out(dropped))
    if len(lineage) > SHOWN:
        note(f"the {len(lineage) - SHOWN:,} earlier operations are left out here; `dau info --json` lists them all")


def _did(e: dict) -> str:
    """One lineage entry in words: `class 3 (174 samples) with dau, seed 0`."""
    if e["op"] == "forget":
        f = e.get("forget") or {}
        size = f.get("size", e.get("forget_size"))
        if f.get("mode") == "class":
            which = f"class {','.join(map(str, f.get('classes', [])))}"
        elif f.get("mode") == "random":
            which = f"random {100 * (f.get('fraction') or 0):g} % (seed {f.get('seed')})"
        else:
            which = "listed samples"
        return f"{which}, {size} samples, with {e.get('method')} (seed {e.get('seed', 0)})" + _settings(e)
    if e["op"] == "prune":
        return f"{e.get('method')} to {100 * (e.get('sparsity') or 0):.1f} % sparsity"
    if e["op"] == "import":
        c = e.get("config") or {}
        arch = (c.get("arch_args") or {}).get("name", c.get("arch", ""))
        how = "its recipe given" if e.get("recipe") else "no recipe"
        return f"{arch} weights from {Path(e.get('file', '?')).name} ({str(e.get('sha256', ''))[7:19]}), {how}"
    if e["op"] == "train":
        c = e.get("config") or {}
        data, model, train = (c.get(k) or {} for k in ("data", "model", "train"))
        return f"{model.get('arch', '')} on {data.get('dataset', '')}, {train.get('epochs', '?')} epochs, seed " \
               f"{train.get('seed', '?')}"
    return ""


def _settings(e: dict) -> str:
    """The method's settings that differ from its defaults (what an output name's `-set` digest
    stands for), e.g. `; salun.fraction=0.3`; "" when it ran on its defaults."""
    import dataclasses

    from dau_cli.config import SECTIONS

    method, config = e.get("method"), e.get("config")
    if method not in SECTIONS or not isinstance(config, dict):
        return ""
    defaults = dataclasses.asdict(SECTIONS[method]())
    changed = [f"{method}.{k}={v}" for k, v in config.items() if k in defaults and defaults[k] != v]
    return "; " + ", ".join(changed) if changed else ""


def _write_indices(ckpt: dict, checkpoint: Path, target: Path, classes: str | None, random: float | None, seed: int,
                   force: bool) -> None:
    """The recorded forget set (or the one --classes/--random choose) as `--indices` reads it."""
    from dau_cli.files import write

    if classes is None and random is None:
        recorded = [e for e in ckpt["lineage"] if "forget_indices" in e]
        if not recorded:
            raise DauError(f"{checkpoint} records no forget set; choose one with --classes or --random")
        positions = recorded[-1]["forget_indices"].tolist()
        what = _did(recorded[-1])
    else:
        from dau_cli.engine.checkpoint import restore
        from dau_cli.engine.forget_sets import select_forget_set

        _, data = restore(ckpt)
        fs = select_forget_set(data.labels, data.splits["train"], classes=classes, random=random, seed=seed,
                               num_classes=ckpt["num_classes"], class_names=ckpt.get("class_names"))
        positions, what = fs.indices.tolist(), f"{fs.describe()['mode']} forget set, {len(fs.indices)} samples"
    text = "".join(f"{p}\n" for p in sorted(positions))
    write(target, lambda f: f.write(text.encode()), force=force)
    out.print(f"wrote {len(positions)} dataset positions ({escape(what)}) to {escape(str(target))}; "
              f"use them with --indices {escape(str(target))}", highlight=False)


recipes_app = typer.Typer(help="Named presets (recipes/*.toml).", no_args_is_help=True)


@recipes_app.command("ls")
@handle_errors
def recipes_ls(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the presets.  Example:  dau recipes ls"""
    from dau_cli.config import list_recipes

    found = {name: (path, _first_comment(path), _data_of(name)) for name, path in list_recipes().items()}
    if json_out:
        print_json({"recipes": [{"name": n, "path": str(p), "description": d, **data}
                                for n, (p, d, data) in found.items()]})
        return
    from dau_cli.cli.tables import Col, fit

    def data_words(d: dict) -> str:
        size = f"{d['data_size']:,} images" if d["data_size"] else "size once read"
        return f"{d['dataset']} ({size})" if d["dataset"] else "the checkpoint's"

    t, _ = fit(out, [Col("recipe"), Col("data"), Col("what it is", wrap=True)],
               [[escape(name), escape(data_words(data)), escape(what)] for name, (_, what, data) in found.items()])
    out.print(t)


def _data_of(name: str) -> dict:
    """The data set a recipe trains on and its size (None for a method-only recipe, which uses the
    checkpoint's data, and for an image folder's size, known once it is read)."""
    from dau_cli.config import read_recipe

    dataset = read_recipe(name).get("data", {}).get("dataset")
    return {"dataset": dataset, "data_size": DATASET_SIZES.get(dataset)}


def _first_comment(path: Path) -> str:
    return next((ln.lstrip("# ").strip() for ln in path.read_text().splitlines() if ln.startswith("#")), "")


@recipes_app.command("cp")
@handle_errors
def recipes_cp(
    name: str = typer.Argument(..., help="A preset from `dau recipes ls`."),
    path: Path = typer.Argument(..., help="Where to write the copy, e.g. my-class.toml."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Copy a preset to edit it; then pass the copy to --recipe.

    \b
    Example:
      dau recipes cp forget-class my-class.toml
      dau forget digits-cnn.pt --classes 3 --recipe my-class.toml
    """
    from dau_cli.config import recipe_path
    from dau_cli.files import check_output, write

    source = recipe_path(name, files=False)
    target = check_output(path, [source], force)
    text = source.read_bytes()
    write(target, lambda f: f.write(text), force=force)
    out.print(f"copied {escape(name)} to {escape(str(target))}; use it with --recipe {escape(str(target))}",
              highlight=False)


@recipes_app.command("show")
@handle_errors
def recipes_show(
    name: str = typer.Argument(..., help="A name from `dau recipes ls`."),
    section: Optional[str] = typer.Option(None, "--section", "-s", help="Only this section's keys, e.g. dau or "
                                          "train (the recipe's text is left out)."),
    json_out: bool = typer.Option(False, "--json", help="Print the preset's values and every key as JSON."),
) -> None:
    """Print a preset and every key it can set.

    \b
    Examples:
      dau recipes show digits-cnn
      dau recipes show forget-class --section dau     # only the dau.* keys
    """
    from dau_cli.config import SECTIONS, describe_section, list_recipes, read_recipe
    from dau_cli.settings import did_you_mean

    values = read_recipe(name)
    path = list_recipes().get(name, Path(name))
    if section is not None and section not in SECTIONS:
        raise DauError(f"--section {section}: no such section{did_you_mean(section, SECTIONS)}; "
                       f"sections: {', '.join(SECTIONS)}")
    sections = [section] if section else list(SECTIONS)
    if json_out:
        keys = [{"key": key, "value": values.get(s, {}).get(key.split(".", 1)[1], default), "default": default,
                 "meaning": help_text} for s in sections for key, default, help_text in describe_section(s)]
        print_json({"name": name, "path": str(path), "recipe": values, "keys": keys})
        return
    if section is None:
        out.print(path.read_text(), highlight=False, markup=False)
    t = Table(title=escape(f"{'every key' if section is None else f'[{section}] keys'} (recipe value, else default)"))
    for col in ("key", "value", "meaning"):
        t.add_column(col)
    for section in sections:
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
