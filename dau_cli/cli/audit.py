"""`dau audit`: how much of the forget set a checkpoint still remembers, optionally against a
model retrained without it. Metrics and attacks are defined in docs/audit.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from dau_cli.cli.common import (MAX_REFERENCES, RAY_OPTION, TUI_OPTION, WORKERS_OPTION, escape, handle_errors, loading,
                                 note, open_run, out, pct, print_json)
from dau_cli.cli.tui import watch_in_dashboard
from dau_cli.errors import DauError

PLOT_FORMATS = ("png", "pdf", "svg")
REPORT_SUFFIXES = (".html", ".htm")
PAIR_TITLES = {"forget_vs_val": "forget set (members) vs unseen images of the same classes",
               "retain_vs_test": "retain set (members) vs test images"}


@handle_errors
def audit(
    checkpoint: Path = typer.Argument(..., help="The checkpoint to audit."),
    classes: Optional[str] = typer.Option(None, "--classes", "-c", help="Forget set = these classes, e.g. 3 or 3,5."),
    random: Optional[float] = typer.Option(None, "--random",
                                           help="Forget set = a seeded fraction of D_train, e.g. 0.1."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --random draw."),
    indices: Optional[Path] = typer.Option(None, "--indices", help="Forget set = the dataset positions in this file."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="A model retrained without the forget set."),
    references: int = typer.Option(0, "--references", min=0, max=MAX_REFERENCES,
                                   help="Top the reference bank up to K models without the forget set and K with it "
                                        "(trained once, kept under DAU_HOME); 0 = use what the bank holds."),
    workers: int = WORKERS_OPTION,
    ray: Optional[str] = RAY_OPTION,
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the ROC curves (log-log) to this .png/.pdf/.svg."),
    html: Optional[Path] = typer.Option(None, "--report", metavar="FILE.html",
                                        help="Also write the audit as one self-contained HTML page (verdict, "
                                             "pictures of each test, lineage, digests, the command to rerun it)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    data_root: Optional[Path] = typer.Option(None, help="Where the dataset lives, if not where it was at training."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --plot or --report file."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    tui: bool = TUI_OPTION,
) -> None:
    """Does the model still remember its forget set? The first line is the verdict (forgotten, not
    forgotten, superficial, over-forgotten, or no reference), from tests against reference models
    retrained without the forget set (--references K trains them once); below it, the literature's
    UA, RA, TA, MIA-Efficacy and threshold attacks. The forget set comes from the checkpoint's
    lineage (a `dau forget` output) or from --classes / --random / --indices.

    \b
    Examples:
      dau audit digits-cnn-forget-dau-class3.pt --references 16 --workers 2   # first time: trains the bank
      dau audit digits-cnn-forget-dau-class3.pt     # the forget set it records
      dau audit digits-cnn.pt --classes 3           # the original, as a baseline
      dau audit digits-cnn-forget-dau-class3.pt --reference digits-cnn-forget-retrain-class3.pt --plot roc.png
      dau audit digits-cnn.pt --random 0.1 --seed 1 --json
      dau audit digits-cnn-forget-dau-class3.pt --report audit.html   # one page to send to someone
      dau audit digits-cnn-forget-dau-class3.pt --references 16 --tui   # watch the bank train
    """
    _check_inputs(checkpoint, reference, indices, plot, force, html)
    if tui:
        watch_in_dashboard()
    with loading("loading torch"):
        from dau_cli.engine import operations
        from dau_cli.engine.audit import check_reference_unseen, forget_set_for_audit
    with loading(f"loading {checkpoint} and its data"):
        opened, ref_ckpt = _load(checkpoint, reference, references, device, data_root)
    ckpt, data, dev = opened.ckpt, opened.data, opened.device
    forget = forget_set_for_audit(ckpt, data, classes=classes, random=random, indices=indices, seed=seed)
    if ref_ckpt is not None:
        check_reference_unseen(ref_ckpt, forget, reference)

    config = {"checkpoint": str(checkpoint), "reference": str(reference) if reference else None,
              "forget": forget.describe(), "device": str(dev), "plot": str(plot) if plot else None,
              **({"report": str(html)} if html else {}),
              "references": references, "workers": workers, "ray": ray}
    with open_run("audit", config, str(dev), progress=not json_out) as run:
        _warn_other_forget_set(run, ckpt, checkpoint, flags_given=any(v is not None for v in (classes, random, indices)))
        # Warnings are kept in the report, printed after the verdict. On a cluster the references'
        # device is the cluster's to decide (a GPU where it has one).
        report = operations.audit(opened, forget, run, references, workers, device=device if ray else str(dev),
                                  ray=ray, samples=html is not None, name=checkpoint.name)
        samples = report.pop("samples", None)  # per-sample arrays for the report's pictures, never printed
        summary = {k: report[k] for k in ("verdict", "ua", "ra", "ta", "val_acc", "forgotten_test_acc",
                                          "mia_efficacy") if report.get(k) is not None}
        if ref_ckpt is not None:
            _against_reference(report, run, ref_ckpt, reference, forget, data, dev)
            summary["avg_gap"] = report["avg_gap"]
        outputs = _write_outputs(report, samples, run, (ckpt, checkpoint, reference, forget), (plot, html), force)
        run.emit("result", metrics=summary)
        run.update(summary=summary, outputs=outputs)

    if json_out:
        print_json({"checkpoint": str(checkpoint), "run_dir": str(run.dir), **report,
                    **({"plot": str(plot)} if plot else {}), **({"report": str(html)} if html else {})})
        return
    _print_report(report, checkpoint, reference)
    out.print(escape(f"run: {run.dir}" + (f"   plot: {plot}" if plot else "") + (f"   report: {html}" if html else "")))


def _check_inputs(checkpoint: Path, reference: Path | None, indices: Path | None, plot: Path | None,
                  force: bool, html: Path | None = None) -> None:
    """Cheap checks first: a mistake is reported before torch is imported."""
    from dau_cli.files import check_checkpoint, check_input, check_output
    from dau_cli.runs import check_home

    check_checkpoint(checkpoint)
    if reference is not None:
        check_checkpoint(reference, f"make the model retrained without the forget set with `dau forget {checkpoint} "
                         f"--method retrain ...` (the same forget set) and pass its output")
    if indices is not None:
        check_input(indices, "write the positions one per line, or export them with `dau info CKPT --indices FILE`")
    if plot is not None:
        check_output(plot, [p for p in (checkpoint, reference) if p], force)  # never an input
        if plot.suffix.lstrip(".").lower() not in PLOT_FORMATS:
            raise DauError(f"--plot {plot}: give a file ending in .{', .'.join(PLOT_FORMATS)}, e.g. --plot roc.png")
    if html is not None:
        _check_report(html, [p for p in (checkpoint, reference, indices) if p], force)
    check_home()


def _check_report(html: Path, inputs: list[Path], force: bool) -> None:
    """--report: a file ending in .html or .htm, in a folder that exists; never a folder or an input."""
    from dau_cli.files import check_output

    if html.is_dir():
        raise DauError(f"--report {html} is a folder; give a file name, e.g. --report {html / 'audit.html'}")
    if html.suffix.lower() not in REPORT_SUFFIXES:
        raise DauError(f"--report {html}: give a file ending in .html or .htm, e.g. --report audit.html")
    if not html.parent.is_dir():
        raise DauError(f"--report {html}: the folder {html.parent} does not exist; create it or choose another")
    check_output(html, inputs, force)


def _write_outputs(report: dict, samples: dict | None, run: Any, audited: tuple,
                   paths: tuple[Path | None, Path | None], force: bool) -> dict:
    """Write --plot and --report (`paths`) for the `audited` (ckpt, its path, --reference, forget
    set); returns {"plot", "report": absolute path} for run.json's outputs."""
    (ckpt, checkpoint, reference, forget), (plot, html) = audited, paths
    outputs = {}
    if plot is not None:
        plot_roc(report, plot, title=f"{checkpoint.name}: forget set {_describe_forget(report['forget'])}",
                 force=force)
        outputs["plot"] = str(plot.resolve())
    if html is not None:
        import sys

        from dau_cli.engine.report import report_facts, write_report

        facts = report_facts(ckpt, checkpoint, reference, forget, report, sys.argv)  # sys.argv: the command as run
        write_report(html, report, {**facts, "run_dir": str(run.dir)}, samples, force=force)
        outputs["report"] = str(html.resolve())
    return outputs


def _load(checkpoint: Path, reference: Path | None, references: int, device: str, data_root: Path | None) -> tuple:
    """(the checkpoint opened on `device`, the reference checkpoint or None), the reference checked
    against the checkpoint's data view and the recipe against --references before any work."""
    from dau_cli.engine.audit import check_reference
    from dau_cli.engine.bank import recipe_of
    from dau_cli.engine.checkpoint import load_checkpoint
    from dau_cli.engine.operations import open_checkpoint

    ckpt = load_checkpoint(checkpoint)
    if references:  # the references' recipe is checked before any work: imported without one, out of range
        recipe_of(ckpt)
    ref_ckpt = None
    if reference is not None:
        ref_ckpt = load_checkpoint(reference)
        check_reference(ckpt, ref_ckpt, reference)
    return open_checkpoint(ckpt, device, data_root), ref_ckpt


def _warn_other_forget_set(run: Any, ckpt: dict, checkpoint: Path, flags_given: bool) -> None:
    from dau_cli.engine.audit import recorded_forget

    recorded = recorded_forget(ckpt)
    if flags_given and recorded is not None:
        run.emit("log", level="warning", message=f"{checkpoint} records a forget set of "
                 f"{len(recorded['forget_indices'])} samples; auditing the one the flags give instead")


def _against_reference(report: dict, run: Any, ref_ckpt: dict, reference: Path, forget: Any, data: Any,
                       dev: Any) -> None:
    """Audit the reference on the same sets and add `reference`, `avg_gap` and `diff` to `report`."""
    from dau_cli.engine.audit import audit as run_audit, compare_reports, recorded_forget

    ref_recorded = recorded_forget(ref_ckpt)
    if ref_recorded is not None and not _same(ref_recorded["forget_indices"], forget.indices):
        run.emit("log", level="warning", message=f"{reference} was made for a different forget set than "
                 f"the one audited; the comparison may not mean much")
    run.emit("log", level="info", message=f"auditing the reference {reference}")
    report["reference"] = run_audit(_reference_model(ref_ckpt, dev), data, forget)
    comparison = compare_reports(report, report["reference"])
    report["avg_gap"] = comparison.pop("avg_gap")
    report["diff"] = {m: c["diff"] for m, c in comparison.items()}


def _same(a: Any, b: Any) -> bool:
    import torch

    a, b = torch.as_tensor(a).sort().values, torch.as_tensor(b).sort().values
    return a.shape == b.shape and bool((a == b).all())


def _reference_model(ref_ckpt: dict, device):
    """The reference's network alone: its data view was checked to be the audited one's."""
    from dau_cli.engine.checkpoint import restore_model

    return restore_model(ref_ckpt, device)


def _describe_forget(f: dict) -> str:
    if f["mode"] == "class":
        return f"class {','.join(map(str, f['classes']))} ({f['size']} samples)"
    if f["mode"] == "random":
        return f"random {100 * f['fraction']:g} %, seed {f['seed']} ({f['size']} samples)"
    return f"{f['size']} listed samples"


# ----------------------------------------------------------------------------- the terminal report


def _print_report(report: dict, checkpoint: Path, reference: Path | None) -> None:
    print_verdict(report)
    ref = report.get("reference")
    class_mode = report["forget"]["mode"] == "class"
    from dau_cli.cli.tables import Col, fit, left_out

    title = f"the literature's numbers for {escape(str(checkpoint))}: forget set {_describe_forget(report['forget'])}"
    if ref:
        title += f"; reference {escape(reference.name)}"
    cols = [Col("metric (%)"), Col("model", justify="right")]
    if ref:
        cols += [Col("reference", justify="right"), Col("diff", justify="right")]
    rows = [("UA: 100 − forget-set acc", "ua"), ("RA: retain-set acc", "ra"),
            ("TA: test acc, other classes" if class_mode else "TA: test acc", "ta")]
    if class_mode:
        rows.append(("test acc, forgotten classes", "forgotten_test_acc"))
    rows += [("validation acc", "val_acc"), ("MIA-Efficacy (confidence)", "mia_efficacy")]
    cells: list[list[str]] = []
    for label, key in rows:
        row = [label, _mia(report, "confidence") if key == "mia_efficacy" else pct(report[key])]
        if ref:
            row += [_mia(ref, "confidence") if key == "mia_efficacy" else pct(ref[key]),
                    _signed(report["diff"].get(key))]
        cells.append(row)
    for s in report["mia_efficacy_by_statistic"]:
        if s == "confidence":
            continue
        row = [f"[dim]  MIA-Eff. {s}[/]", f"[dim]{_mia(report, s)}[/]"]
        if ref:
            row += [f"[dim]{_mia(ref, s)}[/]", f"[dim]{_signed(report['diff'].get(f'mia_efficacy.{s}'))}[/]"]
        cells.append(row)
    caption = None
    boot = report.get("mia_bootstrap", {})
    if boot.get("resamples"):
        caption = (f"\\[low-high]: MIA-Efficacy's central {100 * boot['level']:.0f} % over {boot['resamples']} SVC "
                   f"refits on resampled members and non-members; [yellow]![/] = the interval spans over half "
                   f"of 0-100, the figure is unstable")
    if ref:
        cells.append(["[bold]Avg. Gap[/] (mean |diff|)", "", "", f"[bold]{report['avg_gap']:.2f}[/]"])
    t, _ = fit(out, cols, cells, title=title, caption=caption)
    out.print(t)

    from dau_cli.engine.roc import LOW_FPRS

    for pair, by_stat in report["attacks"].items():
        cols = [Col("statistic"), Col("AUC", justify="right"), Col("bal. acc", justify="right", keep=1),
                *(Col(f"TPR@{100 * f:g}%", justify="right", keep=2 + i) for i, f in enumerate(LOW_FPRS))]
        if ref:
            cols.append(Col("ref. AUC", justify="right"))
        # Statistics that rank samples alike (confidence, loss, logit-scaled confidence are monotone
        # in p_y) give identical rows: one row names them all.
        folded: dict[tuple, list[str]] = {}
        for s, r in by_stat.items():
            row = (f"{r['auc']:.3f}", f"{100 * r['balanced_accuracy']:.1f} %",
                   *(f"{100 * r['tpr_at_fpr'][str(f)]:.1f} %" for f in LOW_FPRS))
            if ref:
                other = ref["attacks"].get(pair, {}).get(s)
                row += (f"{other['auc']:.3f}" if other else "—",)
            folded.setdefault(row, []).append(s)
        cells = [[" = ".join(names), *row] for row, names in folded.items()]
        a, dropped = fit(out, cols, cells, title=f"threshold attack: {PAIR_TITLES[pair]} ({pair})",
                         caption="TPR@f: TPR at FPR f")
        out.print(a)
        if dropped:
            note(left_out(dropped))
    sizes = report["sizes"]
    from_ = sizes.get("attack_negatives_from", {})
    negatives = (f"{from_['val']} validation + {from_['test']} test images of the forgotten classes"
                 if class_mode and from_ else f"{sizes['attack_val']} validation images")
    out.print(f"sets: forget {sizes['forget']}, retain {sizes['retain']}, validation {sizes['val']}, test "
              f"{sizes['test']} ({sizes['ta_test']} for TA and MIA); forget_vs_val negatives: {negatives}; "
              f"MIA members: first {sizes['mia_members']} of the retain set", style="dim")
    for w in report["warnings"]:
        out.print(f"[yellow]warning:[/] {escape(w)}")


def _mia(report: dict, statistic: str) -> str:
    """A MIA-Efficacy figure with its bootstrap interval, marked when the interval spans most of 0-100."""
    v = pct(report["mia_efficacy_by_statistic"][statistic])
    lo_hi = report.get("mia_efficacy_interval", {}).get(statistic)
    if not lo_hi:
        return v
    flag = " [yellow]![/]" if statistic in report.get("mia_efficacy_unstable", []) else ""
    return f"{v} [dim]\\[{lo_hi[0]:.0f}-{lo_hi[1]:.0f}][/]{flag}"


def print_verdict(report: dict) -> None:
    """The verdict's line, then one line per test (the deciding ones first)."""
    from dau_cli.verdicts import verdict_markup

    v = report["verdict"]
    refs = report.get("references", {})
    counted = f" (against {refs['out']} models retrained without the forget set and {refs['in']} with it)" \
        if refs.get("out") else ""
    out.print(f"verdict: {verdict_markup(v)}{counted}", highlight=False)
    for r in report["reasons"]:
        out.print(f"  - {escape(r)}", highlight=False)  # wrapped at a terminal's width, whole in a pipe


def _signed(x: float | None) -> str:
    return "—" if x is None or x != x else f"{x:+.2f}"


# ----------------------------------------------------------------------------- the plot


def plot_roc(report: dict, path: Path, title: str = "", force: bool = False) -> Path:
    """ROC curves of every threshold attack on log-log axes, one panel per pair, one line per
    statistic (the reference dashed, in the same colour). Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from dau_cli.engine.report_figures import log_roc_axes

    ref = report.get("reference")
    pairs = [p for p in PAIR_TITLES if report["attacks"].get(p)]
    if not pairs:
        raise DauError("--plot needs the threshold attacks, and none could be run on these sets")
    fig, axes = plt.subplots(1, len(pairs), figsize=(6.2 * len(pairs), 5.6), squeeze=False)
    colours = plt.get_cmap("tab10").colors
    sizes = report["sizes"]
    n_neg = {"forget_vs_val": sizes["attack_val"], "retain_vs_test": sizes["ta_test"]}
    n_pos = {"forget_vs_val": sizes["forget"], "retain_vs_test": sizes["retain"]}
    for ax, pair in zip(axes[0], pairs):
        # On log axes an FPR or TPR of 0 has no place; such points are drawn at half the smallest
        # non-zero value the set sizes allow, and the axes start there.
        x0, y0 = 0.5 / max(n_neg[pair], 1), 0.5 / max(n_pos[pair], 1)
        for i, (stat, r) in enumerate(report["attacks"][pair].items()):
            c = colours[i % len(colours)]
            ax.plot(_clip(r["fpr"], x0), _clip(r["tpr"], y0), color=c, lw=1.6,
                    label=f"{stat.replace('_', ' ')} (AUC {r['auc']:.3f})")
            other = ref["attacks"].get(pair, {}).get(stat) if ref else None
            if other:
                ax.plot(_clip(other["fpr"], x0), _clip(other["tpr"], y0), color=c, lw=1.2, ls="--")
        ax.plot([min(x0, y0), 1], [min(x0, y0), 1], color="grey", lw=1, ls=":")
        log_roc_axes(ax, x0, y0)
        ax.set_title(PAIR_TITLES[pair], fontsize=10)
        handles, _ = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], color="grey", ls=":", label="chance"))
        if ref:
            handles.append(Line2D([], [], color="black", ls="--", label="reference (retrained)"))
        ax.legend(handles=handles, fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fmt = path.suffix.lstrip(".").lower()
    from dau_cli.files import write

    try:
        return write(path, lambda f: fig.savefig(f, format=fmt, dpi=120), force)
    finally:
        plt.close(fig)


def _clip(values: list[float], floor: float) -> list[float]:
    return [max(v, floor) for v in values]
