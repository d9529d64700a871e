"""`dau compare` and `dau demo`: methods side by side against retraining."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from dau_cli.cli.common import (
    CLASSES_OPTION,
    DATA_ROOT_OPTION,
    INDICES_OPTION,
    MAX_REFERENCES,
    RANDOM_OPTION,
    RECIPE_OPTION,
    SET_OPTION,
    RAY_OPTION,
    TUI_OPTION,
    WORKERS_OPTION,
    escape,
    check_forget_flags,
    handle_errors,
    loading,
    note,
    open_run,
    out,
    pct,
    print_json,
)

from dau_cli.cli.tui import watch_in_dashboard
from dau_cli.methods import METHODS, column_config, parse_methods, split_column

ALL_METHODS = ",".join(METHODS)


OWN = ("compare.md", "compare.json", "cells")  # what compare writes in its folder
METHODS_OPTION = typer.Option(ALL_METHODS, "--methods", help="Comma-separated methods; retrain is always run. A "
                              "method with settings in brackets, keys as --set takes them, is a row of its own: "
                              "'dau[dau.repair_lr=0.03]' (quote it for the shell).")


def check_compare_folder(folder: Path, inputs: list[Path], force: bool) -> None:
    """The output folder is compare's own (new, empty, or holding only what compare wrote there,
    which a rerun reuses), or --force says to write into it anyway. Checked before any cell runs."""
    import json

    from dau_cli.errors import DauError
    from dau_cli.files import check_output

    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise DauError(f"{folder} is a file or a link; -o takes a folder for compare's cells and tables")
    if not folder.exists():
        check_output(folder, inputs)  # its parent exists and takes a folder
        return
    check_output(folder / "compare.md", inputs, force=True)  # writable, and never an input
    foreign = sorted(p.name for p in folder.iterdir() if p.name not in OWN)
    table = folder / "compare.json"
    if not foreign and table.exists():
        try:
            ours = isinstance(made := json.loads(table.read_text(encoding="utf-8")), dict) and "rows" in made
        except (OSError, ValueError):
            ours = False
        foreign = [] if ours else ["compare.json"]
    if not foreign and (folder / "compare.md").exists() and not table.exists():
        foreign = ["compare.md"]
    if foreign and not force:
        raise DauError(f"{folder} holds files compare did not write ({', '.join(foreign[:3])}); choose a new folder "
                       f"with -o, or pass --force to write compare.md, compare.json and cells/ there")


@handle_errors
def compare(
    checkpoint: Path = typer.Argument(..., help="The original (trained) checkpoint."),
    classes: Optional[str] = CLASSES_OPTION,
    random: Optional[float] = RANDOM_OPTION,
    indices: Optional[Path] = INDICES_OPTION,
    methods: str = METHODS_OPTION,
    seeds: str = typer.Option("3", "--seeds", help="A count (3 = seeds 0,1,2) or a list (0,5,9)."),
    sparse: Optional[Path] = typer.Option(None, "--sparse", help="A pruned checkpoint of the same model: adds its rows."),
    recipe: Optional[str] = RECIPE_OPTION,
    sets: list[str] = SET_OPTION,
    device: str = typer.Option("auto", help="auto, cpu, cuda or mps."),
    data_root: Optional[Path] = DATA_ROOT_OPTION,
    out_dir: Optional[Path] = typer.Option(None, "-o", "--out", help="Folder for cells, compare.md and compare.json."),
    json_out: bool = typer.Option(False, "--json", help='Print {"rows": [...]} instead of the table.'),
    force: bool = typer.Option(False, "--force", help="Write into an -o folder that holds files compare did not "
                               "write (its compare.md, compare.json and cells/ are replaced)."),
    workers: int = WORKERS_OPTION,
    ray: Optional[str] = RAY_OPTION,
    references: int = typer.Option(0, "--references", min=0, max=MAX_REFERENCES,
                                   help="Give every cell the audit's verdict against K reference models without the "
                                        "forget set and K with it (the bank is filled first, with --workers/--ray, "
                                        "and kept under DAU_HOME), e.g. --references 16; 0 = no verdict."),
    tui: bool = TUI_OPTION,
) -> None:
    """Run unlearning methods against retraining over several seeds; print mean ± std.

    Every seed draws its own forget set (random forgetting) and its own unlearning and
    retraining randomness. Finished cells are kept in the output folder and reused, so an
    interrupted comparison resumes. The row `original` is the untouched model; a method with
    settings in brackets (`dau[dau.repair_lr=0.03]`) is a row of its own, beside other settings
    of it. With --references K each cell also gets the audit's verdict (`dau audit`), and a
    second table counts the verdicts and gives the tests' numbers (output z, LiRA, relearning, probe).

    \b
    Examples:
      dau compare digits-cnn.pt --classes 3 --seeds 3
      dau compare digits-cnn.pt --random 0.1 --methods dau,dau-authors,ft,l1
      dau compare digits-cnn.pt --classes 3 --sparse digits-cnn-omp90.pt
      dau compare digits-cnn.pt --classes 3 --methods "dau,dau[dau.repair_lr=0.03],dau[dau.repair_lr=0.015]"
      dau compare digits-cnn.pt --classes 3 --seeds 8 --ray local
      dau compare digits-cnn.pt --random 0.1 --seeds 5 --references 16 --workers 2
      dau compare digits-cnn.pt --classes 3 --tui     # watch the cells in the dashboard
    """
    from dau_cli.runs import check_home

    method_list, spec, config = _checked(checkpoint, sparse, recipe, sets, methods, (classes, random, indices))
    with loading("loading torch"):  # once the cheap checks passed
        from dau_cli.engine.compare import compare as run_compare, parse_seeds
        from dau_cli.engine.jobs import make_executor
        from dau_cli.engine.train import pick_device

    seed_list = parse_seeds(seeds)
    mode = next(iter(spec))
    folder = out_dir or default_folder(checkpoint, mode, classes, random)
    ckpts = {"dense": checkpoint, **({"sparse": sparse} if sparse else {})}
    check_compare_folder(folder, list(ckpts.values()), force)
    check_home()
    if tui:
        watch_in_dashboard()
    # Where the cells run resolves `auto` itself; only a local run checks the device here.
    dev = device if ray else str(pick_device(device))
    executor = make_executor(workers, ray)
    run_cfg = {"checkpoints": {k: str(v) for k, v in ckpts.items()}, "forget": spec, "methods": method_list,
               "seeds": seed_list, "out": str(folder), "workers": workers, "ray": ray, "references": references}
    with open_run("compare", run_cfg, dev) as run:
        if "indices" in spec:
            spec["indices"] = Path(spec["indices"])
        title = f"{checkpoint.name}: forget {mode} {classes or random or indices}, seeds {seed_list}" + (
            f", verdicts against {references} + {references} references" if references else "")
        with _cells_kept(folder), _tables_of_the_finished(folder, title, spec, seed_list, references, run, json_out):
            result = run_compare(ckpts, spec, method_list, seed_list, config, folder, run, device if ray else dev,
                                 str(data_root) if data_root else None, executor, references, workers, ray)
        _write_tables(folder, result, title, spec, seed_list, references, run)
    if json_out:
        print_json({"rows": result["rows"], "markdown": str(folder / "compare.md"), "run_dir": str(run.dir)})
        return
    print_compare(result["rows"], title)
    out.print(f"written: {escape(str(folder / 'compare.md'))} and compare.json (cells are reused on the next run)")


def default_folder(checkpoint: Path, mode: str, classes: str | None, random: float | None) -> Path:
    """Beside the checkpoint, named for the forget set: compare-digits-cnn-class3."""
    tag = {"classes": f"class{classes}", "random": f"random{random}", "indices": "indices"}[mode].replace(",", "-")
    return checkpoint.with_name(f"compare-{checkpoint.stem}-{tag}")


def _checked(checkpoint: Path, sparse: Path | None, recipe: str | None, sets: list[str], methods_text: str,
             forget: tuple) -> tuple[list[str], dict, dict]:
    """The cheap checks, before torch loads: (the --methods rows, the forget set's flags, the
    settings resolved), with the checkpoints and each row's settings checked."""
    from dau_cli.config import resolve
    from dau_cli.files import check_checkpoint

    methods = parse_methods(methods_text)
    check_forget_flags(*forget)
    classes, random, indices = forget
    spec = {k: v for k, v in (("classes", classes), ("random", random), ("indices", str(indices) if indices else None))
            if v is not None}
    check_checkpoint(checkpoint)
    if sparse is not None:
        check_checkpoint(sparse, f"make one with `dau prune {checkpoint} --sparsity 0.9`")
    config = resolve(recipe, None, sets, uses=sorted({"retrain", *(split_column(m)[0] for m in methods)}),
                     command=f"dau compare --methods {','.join(methods)}")
    for m in methods:  # each row's own settings
        column_config(config, m)
    return methods, spec, config


@contextmanager
def _cells_kept(folder: Path) -> Iterator[None]:
    """An interrupted comparison says that its finished cells are kept for the next run."""
    try:
        yield
    except KeyboardInterrupt as e:
        raise KeyboardInterrupt(f"{e or 'interrupted'}; the finished cells in {folder / 'cells'} are kept and "
                                f"the next run reuses them; compare.md was not written") from None


@contextmanager
def _tables_of_the_finished(folder: Path, title: str, spec: dict, seeds: list[int], references: int, run,
                            json_out: bool) -> Iterator[None]:
    """When some cells failed, the finished cells' tables are written (and shown), then the failure raised."""
    from dau_cli.engine.compare import Incomplete

    try:
        yield
    except Incomplete as e:
        _write_tables(folder, e.result, title, spec, seeds, references, run)
        if not json_out and e.result["rows"]:
            print_compare(e.result["rows"], title)
        raise


def _write_tables(folder: Path, result: dict, title: str, spec: dict, seeds: list[int], references: int,
                  run) -> None:
    """compare.md and compare.json, named in the run's outputs: compare owns its folder, the tables are
    rebuilt from the cells on every run."""
    from dau_cli.engine.compare import markdown
    from dau_cli.files import write_json, write_text

    md = markdown(result, title)
    result.update({"title": title, "forget": {k: str(v) for k, v in spec.items()}, "seeds": seeds,
                   **({"references": references} if references else {})})
    write_json(folder / "compare.json", result, force=True)
    write_text(folder / "compare.md", md, force=True)
    run.update(outputs={"markdown": str(folder / "compare.md"), "json": str(folder / "compare.json")})


def print_compare(rows: list[dict], title: str) -> None:
    """mean ± std on one line where the terminal is wide enough, else the std under the mean;
    image passes, then time, leave first at a narrow width."""
    from dau_cli.cli.tables import Col, fit, left_out

    cols = [Col("method"), *(Col(h, justify="right") for h in ("UA", "RA", "TA", "MIA-Eff.", "Avg. Gap")),
            Col("time s", justify="right", keep=1), Col("passes", justify="right", keep=2)]
    for sep in (" ± ", "\n± "):
        cells = [[escape(r["method"]), *(f"{r[k]['mean']:.2f}{sep}{r[k]['std']:.2f}" for k in
                                          ("ua", "ra", "ta", "mia_efficacy", "avg_gap", "wall_time_s")),
                  f"{r['image_passes']['mean']:,.0f}"] for r in rows]
        table, dropped = fit(out, cols, cells, title=escape(title), caption="mean ± std over seeds; %, time in s")
        if not dropped:
            break
    out.print(table)
    if dropped:
        note(left_out(dropped))
    if any("verdicts" in r for r in rows):
        print_verdicts(rows)
    quality = [r for r in rows if "forgetting_quality" in r]
    if quality:
        n = quality[0]["forgetting_quality"]["models"]
        out.print(f"forgetting quality per example ({n} v {n} models; 1 best, retrain = ceiling): " + ", ".join(
            f"{escape(r['method'])} {r['forgetting_quality']['value']:.3f}" for r in quality), highlight=False)


def print_verdicts(rows: list[dict]) -> None:
    """The second table of `compare --references`: each row's verdicts over the seeds and the
    tests' numbers, mean ± std (the std under the mean, and the early relearning steps leaving
    first, where the terminal is narrow)."""
    from dau_cli.cli.tables import Col, fit, left_out
    from dau_cli.engine.compare import VERDICT_HEADS, VERDICT_NUMBERS, mean_std
    from dau_cli.verdicts import verdict_markup

    relearn = [k for k in VERDICT_NUMBERS if k.startswith("relearn_")]
    keep = {k: len(relearn) - i for i, k in enumerate(relearn[:-1])}  # the last step stays longest
    cols = [Col("method"), Col("verdicts", wrap=True),
            *(Col(VERDICT_HEADS[k].replace(" %", ""), justify="right", keep=keep.get(k, 0)) for k in VERDICT_NUMBERS)]
    for sep in (" ± ", "\n± "):
        cells = []
        for r in rows:
            n = sum(r.get("verdicts", {}).values())
            verdicts = ", ".join(f"{verdict_markup(v)} {c}/{n}" for v, c in r.get("verdicts", {}).items())
            cells.append([escape(r["method"]), verdicts or "—",
                          *(mean_std(r[k], ".1f" if k in relearn or k == "probe" else ".2f", sep) if k in r else "—"
                            for k in VERDICT_NUMBERS)])
        table, dropped = fit(out, cols, cells, title="the audit's verdicts over seeds, against the reference bank",
                             caption="mean ± std over seeds; — where no test could decide")
        if not dropped:
            break
    out.print(table)
    out.print("output z: the forget samples' mean z-score against models retrained without them; LiRA: "
              "log-likelihood ratio IN/OUT; relearn N: forget-set accuracy (%) after N fine-tuning steps; probe: "
              "a linear probe's forget-set accuracy (%) (docs/audit.md)", style="dim")
    if dropped:
        note(left_out(dropped))


DEMO_REFERENCES = 4  # OUT and IN references of the demo's bank: 8 trainings, enough for class forgetting
DEMO_NAMES = {"original": "original", "dau": "[bold]DAU[/]", "retrain": "retrain", "fake": "fake (bias)"}


@handle_errors
def demo(
    device: str = typer.Option("auto", help="auto, cpu, cuda or mps."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table."),
) -> None:
    """The whole story on the embedded digits data, in under two minutes on 2 idle CPU cores.

    Trains a small CNN, forgets class 3 with DAU, retrains without class 3, and makes the
    one-number fake (the class-3 output bias lowered by 30, nothing forgotten). Each model gets
    the audit's verdict, from tests against a small bank of reference models (4 retrained without
    class 3, 4 with it; kept for the next run), beside the literature's numbers, which the fake
    fools. Everything lands in the demo's run folder.

    Example:  dau demo
    """
    import os

    from dau_cli.config import as_dict, resolve
    from dau_cli.engine import operations
    from dau_cli.engine.checkpoint import save_checkpoint
    from dau_cli.engine.train import pick_device
    from dau_cli.runs import check_home

    config = resolve("digits-cnn", {"train.device": device})
    check_home()
    workers = max(1, min(DEMO_REFERENCES, os.cpu_count() or 1))
    with open_run("demo", as_dict(config), str(pick_device(device))) as run:
        result = operations.demo(config, run, DEMO_REFERENCES, workers)
        for name, ckpt in result.checkpoints.items():
            save_checkpoint(ckpt, run.dir / f"{name}.pt")
        rows, time_ratio = result.rows, result.time_ratio
        run.update(summary={**{k: rows["dau"][k] for k in ("verdict", "ua", "ra", "ta", "mia_efficacy")},
                            "time_ratio": time_ratio},
                   outputs={m: str(run.dir / f"{m}.pt") for m in result.checkpoints})
    if json_out:
        print_json({"run_dir": str(run.dir), "rows": rows, "time_ratio": time_ratio})
        return
    _print_demo(rows, run.dir)


def _print_demo(rows: dict[str, dict], run_dir: Path) -> None:
    from dau_cli.cli.tables import Col, fit
    from dau_cli.verdicts import verdict_markup

    cols = [Col("model"), Col("verdict"), *(Col(h, justify="right") for h in ("UA", "RA", "TA", "MIA-Eff", "Gap")),
            Col("time s", justify="right", keep=1)]
    cells = [[DEMO_NAMES[m], verdict_markup(r["verdict"]),
              *(pct(r[k]) for k in ("ua", "ra", "ta", "mia_efficacy", "avg_gap")), f"{r['wall_time_s']:.2f}"]
             for m, r in rows.items()]
    t, _ = fit(out, cols, cells, title="dau demo: digits, cnn, forget class 3 (TA on the 9 remaining classes)")
    out.print(t)
    out.print("verdict: the audit's, against models retrained without class 3 (docs/audit.md). The literature's "
              "numbers: UA, RA, TA (%) unlearning, remaining and test accuracy; MIA-Eff: MIA-Efficacy; "
              "Gap: Avg. Gap to retraining. The fake scores well on them and remembers everything:")
    out.print(f"  fake: {escape(rows['fake']['reasons'][0])}", style="dim")
    dau_s, retrain_s = rows["dau"]["wall_time_s"], rows["retrain"]["wall_time_s"]
    out.print(f"DAU took {dau_s:.1f} s and retraining {retrain_s:.1f} s ({dau_s / max(retrain_s, 1e-9):.2f}x the time). "
              f"Checkpoints: {escape(str(run_dir))}")
    out.print(escape("Next: dau audit " + str(run_dir / "dau.pt") + " --references 16 --workers 2"))
