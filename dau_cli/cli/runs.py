"""`dau runs ls|show|rm|export`: the run folders dau commands leave behind (torch-free)."""

from __future__ import annotations

import csv
import io
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer

from dau_cli.cli.common import escape, handle_errors, note, out, pct, print_json
from dau_cli.errors import DauError
from dau_cli.runs import model_name

runs_app = typer.Typer(help="Run folders that dau commands leave behind: list, show, remove, export.",
                       no_args_is_help=True)

HEADLINE = {"test_acc": "test", "ua": "UA", "ra": "RA", "ta": "TA", "mia_efficacy": "MIA", "avg_gap": "gap"}


def what(r: dict[str, Any]) -> str:
    """What a run did, in a few words: `dau class 3`, `ft random 10% s0`, `omp 90%`."""
    config = r.get("config") if isinstance(r.get("config"), dict) else {}
    parts = []
    method = config.get("method")
    if isinstance(method, str):
        parts.append(method)
    methods = config.get("methods")
    if isinstance(methods, list):
        parts.append(",".join(map(str, methods)))
    prune = config.get("prune")
    if isinstance(prune, dict) and isinstance(prune.get("sparsity"), (int, float)):
        parts.append(f"{prune.get('method', '')} {100 * prune['sparsity']:g}%".strip())
    forget = config.get("forget")
    if isinstance(forget, dict):
        if forget.get("mode") == "class" or "classes" in forget and forget.get("mode") is None:
            classes = forget.get("classes")
            parts.append(f"class {','.join(map(str, classes)) if isinstance(classes, list) else classes}")
        elif forget.get("mode") == "random" or "random" in forget:
            frac = forget.get("fraction", forget.get("random"))
            seed = forget.get("seed")
            parts.append(f"random {100 * float(frac):g}%" + (f" s{seed}" if seed is not None else "")
                         if isinstance(frac, (int, float, str)) and _is_number(frac) else "random")
        elif forget.get("mode") == "indices" or "indices" in forget:
            parts.append("indices")
    return " ".join(parts)


def _is_number(x: Any) -> bool:
    try:
        float(x)
        return True
    except (TypeError, ValueError):
        return False


def _duration(r: dict[str, Any]) -> str:
    end = r["ended"] or (time.time() if r["status"] == "running" else None)
    return f"{end - r['started']:.1f} s" if r["started"] is not None and end is not None else "—"


def _headline(r: dict[str, Any]) -> str:
    if r["status"] in ("damaged", "failed") and r.get("error"):
        return str(r["error"])
    s = r["summary"]
    return " ".join(f"{short} {s[k]:.1f}" for k, short in HEADLINE.items() if isinstance(s.get(k), (int, float)))


def _config(r: dict[str, Any]) -> dict[str, Any]:
    config = r.get("config")
    return config if isinstance(config, dict) else {}


def _verdict(r: dict[str, Any]) -> str:
    verdict = r["summary"].get("verdict")
    return verdict if isinstance(verdict, str) else ""


def _methods(r: dict[str, Any]) -> list[str]:
    config = _config(r)
    cell = config.get("cell") if isinstance(config.get("cell"), dict) else {}
    found = [config.get("method"), cell.get("method"), *(config.get("methods") or [])]
    return [m for m in found if isinstance(m, str)]


def _dataset(r: dict[str, Any]) -> str:
    config = _config(r)
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    name = data.get("dataset", config.get("dataset"))
    return name if isinstance(name, str) else ""


def row(r: dict[str, Any], cells: int = 0) -> dict[str, Any]:
    """One run as the list shows it (and --csv/--json export it)."""
    end = r["ended"] or (time.time() if r["status"] == "running" else None)
    took = end - r["started"] if r["started"] is not None and end is not None else None
    return {"run": r["id"], "command": r["command"], "model": model_name(r),
            "what": what(r) + (f" ({cells} cells)" if cells else ""), "verdict": _verdict(r), "status": r["status"],
            "started": r["started"], "took": took, "headline": _headline(r), "dataset": _dataset(r)}


def group_cells(runs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(run, its compare cells) for every run that is not a cell; a cell belongs to the compare
    whose time span holds its start (cells whose compare is gone stand alone)."""
    compares = [r for r in runs if r["command"] == "compare" and r["started"] is not None]
    groups: dict[str, list[dict[str, Any]]] = {r["id"]: [] for r in compares}
    alone = []
    for r in runs:
        if r["command"] != "compare-cell":
            continue
        parent = next((c for c in compares if r["started"] is not None and c["started"] <= r["started"]
                       <= (c["ended"] or time.time())), None)
        (groups[parent["id"]] if parent else alone).append(r)
    return [(r, groups.get(r["id"], [])) for r in runs if r["command"] != "compare-cell"] + [(r, []) for r in alone]


SORTABLE = ("run", "command", "model", "what", "verdict", "status", "started", "took")
FIELDS = (*SORTABLE, "headline", "dataset")  # a row's columns, in --csv's order


def _matches(r: dict[str, Any], command, status, verdict, method, dataset, since) -> bool:
    return ((command is None or r["command"] == command) and (status is None or r["status"] == status)
            and (verdict is None or _verdict(r) == verdict) and (method is None or method in _methods(r))
            and (dataset is None or _dataset(r) == dataset) and (since is None or (r["started"] or 0) >= since))


@runs_app.command("ls")
@handle_errors
def runs_ls(
    command: Optional[str] = typer.Option(None, "--command", help="Only runs of this command, e.g. forget."),
    status: Optional[str] = typer.Option(None, "--status", help="Only runs with this status: running, completed, "
                                         "failed, interrupted, lost or damaged."),
    verdict: Optional[str] = typer.Option(None, "--verdict", help="Only runs with this verdict, e.g. forgotten."),
    method: Optional[str] = typer.Option(None, "--method", "-m", help="Only runs of this unlearning method."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Only runs on this data set, e.g. digits."),
    since: Optional[str] = typer.Option(None, "--since", help="Only runs started on or after this day (YYYY-MM-DD)."),
    sort: str = typer.Option("started", "--sort", help=f"Sort by one of: {', '.join(SORTABLE)} (newest or "
                             "largest first for started and took)."),
    cells: bool = typer.Option(False, "--cells", help="Show each compare's cells under it."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="At most this many rows."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    csv_out: bool = typer.Option(False, "--csv", help="Print the rows as CSV, every column."),
) -> None:
    """List runs, newest first: what each did, its model, its verdict and headline numbers.

    A compare's cells are counted on its row (`--cells` lists them under it).

    \b
    Examples:
      dau runs ls
      dau runs ls --command audit --verdict forgotten
      dau runs ls --method dau --dataset fashion-mnist --since 2026-12-01 --sort took
      dau runs ls --csv > runs.csv
    """
    from dau_cli.config import DATASET_SIZES
    from dau_cli.methods import check_method, split_column
    from dau_cli.runs import RUN_COMMANDS, SHOWN_STATUSES, list_runs, runs_dir
    from dau_cli.settings import check_name
    from dau_cli.verdicts import VERDICTS

    if status is not None and status not in SHOWN_STATUSES:
        raise DauError(f"--status {status}: choose one of {', '.join(SHOWN_STATUSES)}")
    if sort not in SORTABLE:
        raise DauError(f"--sort {sort}: choose one of {', '.join(SORTABLE)}")
    try:
        day = time.mktime(time.strptime(since, "%Y-%m-%d")) if since else None
    except ValueError:
        raise DauError(f"--since {since}: give a day as YYYY-MM-DD, e.g. 2026-12-01") from None
    runs = list_runs()
    _known(command, {r["command"] for r in runs},
           lambda name: check_name(name, RUN_COMMANDS, "--command: unknown command", "the commands that record runs"))
    _known(verdict, {_verdict(r) for r in runs},
           lambda name: check_name(name, VERDICTS, "--verdict: unknown verdict", "docs/audit.md explains each"))
    _known(method, {m for r in runs for m in _methods(r)},  # `dau[dau.lr=0.03]`: a compare column of dau
           lambda name: check_method(split_column(name)[0]))
    _known(None if (dataset or "").startswith("folder:") else dataset, {_dataset(r) for r in runs},
           lambda name: check_name(name, DATASET_SIZES, "--dataset: unknown data set", "or folder:PATH"))
    rows = []  # each run's record with its row's columns (--json prints both)
    for r, its_cells in group_cells(runs):
        if _matches(r, command, status, verdict, method, dataset, day):
            rows.append({**r, **row(r, len(its_cells))})
            rows += [{**c, **row(c), "run": "└ " + c["id"]} for c in its_cells] if cells else []
    if sort != "started":
        numeric = sort == "took"
        rows.sort(key=lambda x: (x[sort] is None, -(x[sort] or 0)) if numeric else str(x[sort]))
    rows = rows[:limit]
    if json_out:
        print_json({"runs_dir": str(runs_dir()), "runs": rows})
    elif csv_out:
        _print_csv(rows)
    elif not rows:
        note(f"no runs in {escape(str(runs_dir()))}" + (" match" if any((command, status, verdict, method, dataset,
                                                                          since)) else ""))
    else:
        _print_rows(rows, runs_dir())


def _known(value: str | None, recorded: set[str], check: Callable[[str], Any]) -> None:
    """A filter that no run has is checked as the option that takes it (forget -m, --set
    data.dataset): a typo is one line with the closest name, not an empty list."""
    if value is not None and value not in recorded:
        check(value)


def _print_csv(rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(r["started"]))
                         if r["started"] else "", "took": f"{r['took']:.1f}" if r["took"] is not None else ""})
    sys.stdout.write(buf.getvalue())


def _print_rows(rows: list[dict[str, Any]], folder: Path) -> None:
    """The table, fitted to the terminal: the run, command, model and verdict always; started,
    took, headline, status and what leave in that order when there is no room."""
    from dau_cli.cli.tables import Col, fit, left_out

    cols = [Col("run"), Col("command"), Col("model", wrap=True), Col("verdict"), Col("what", keep=1, wrap=True),
            Col("status", keep=2), Col("took", justify="right", keep=4), Col("started", keep=5),
            Col("headline", keep=3, wrap=True)]
    cells = [[escape(str(c)) for c in (x["run"], x["command"], x["model"], x["verdict"], x["what"], x["status"],
                                       f"{x['took']:.1f} s" if x["took"] is not None else "—",
                                       time.strftime("%m-%d %H:%M", time.localtime(x["started"])) if x["started"] else "—",
                                       x["headline"])] for x in rows]
    table, dropped = fit(out, cols, cells)
    out.print(escape(f"runs in {folder}"))  # a long path folds at a terminal's width, and stays whole in a pipe
    out.print(table)
    if dropped:
        note(left_out(dropped))


def _find(run: str) -> Path:
    from dau_cli.cli.tui import resolve_run
    from dau_cli.runs import runs_dir

    return resolve_run(run, runs_dir())


@runs_app.command("show")
@handle_errors
def runs_show(
    run: str = typer.Argument(..., help="A run id, a unique start of one, a run folder, or 'latest'."),
    json_out: bool = typer.Option(False, "--json", help="Print the run record as JSON."),
) -> None:
    """What one run was: command line, status, times, settings, results and outputs.

    Example:  dau runs show latest
    """
    from dau_cli.runs import read_events, read_run

    path = _find(run)
    r = read_run(path)
    if r is None:
        raise DauError(f"{path} holds no run record")
    if json_out:
        print_json(r)
        return
    rows = [("run", r["id"]), ("command", "dau " + " ".join(map(str, r.get("argv", [])[1:])) if r.get("argv") else r["command"]),
            ("what", what(r)), ("status", r["status"] + (f": {r['error']}" if r.get("error") else "")),
            ("started", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started"])) if r["started"] else "—"),
            ("took", _duration(r)), ("device", str(r.get("device", "—"))), ("folder", str(path))]
    rows += [(f"result {k}", pct(v) if isinstance(v, float) else str(v)) for k, v in r["summary"].items()]
    rows += [(f"output {k}", str(v)) for k, v in r["outputs"].items()]
    counts: dict[str, int] = {}
    for ev in read_events(path):
        counts[ev["type"]] = counts.get(ev["type"], 0) + 1
    rows.append(("events", ", ".join(f"{n} {k}" for k, n in counts.items()) or "none"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        out.print(f"[bold]{key:<{width}}[/]  {escape(value)}", highlight=False)


@runs_app.command("rm")
@handle_errors
def runs_rm(
    runs: list[str] = typer.Argument(..., help="Run ids from `dau runs ls`, a unique start of one (at least "
                                     "4 characters), or 'latest'."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Remove without asking."),
) -> None:
    """Remove run folders that dau made in DAU_HOME/runs (never a running one: stop it first).
    It lists what it will remove and asks, unless --yes; a path, '.', '..' or an empty id is refused.

    Example:  dau runs rm 20261128-0135 --yes
    """
    from dau_cli.runs import read_run

    paths = list(dict.fromkeys(_removable(r) for r in runs))
    for path in paths:  # refuse before removing anything
        r = read_run(path)
        if r is not None and r["status"] == "running":
            raise DauError(f"run {path.name} is running (pid {r.get('pid')}); stop it first, then remove it")
    if not yes:
        if not sys.stdin.isatty():
            raise DauError(f"runs rm asks before removing {len(paths)} run folder(s); pass --yes to remove "
                           f"without asking")
        out.print("will remove: " + ", ".join(escape(p.name) for p in paths), highlight=False)
        if not typer.confirm("remove them?", default=False, err=True):
            out.print("nothing removed")
            return
    for path in paths:
        shutil.rmtree(path)
        out.print(f"removed {escape(path.name)}", highlight=False)


def _removable(run: str) -> Path:
    """A run folder that dau made, directly inside DAU_HOME/runs: by id, a unique start of at least
    4 characters, or `latest`; never a path, a link, or a folder of another kind."""
    from dau_cli.cli.tui import resolve_run
    from dau_cli.runs import is_run_id, read_run, runs_dir

    root = runs_dir()
    if run != "latest" and (len(run) < 4 or not all(c.isalnum() or c in "-_" for c in run)):
        raise DauError(f"'{run}' is not a run id; runs rm takes the ids `dau runs ls` shows (or a unique start "
                       f"of one, at least 4 characters), never a path")
    path = resolve_run(run, root)
    if path.is_symlink() or path.resolve().parent != root.resolve() or not is_run_id(path.name) \
            or read_run(path) is None:
        raise DauError(f"{path} is not a run folder that dau made in {root}; runs rm removes nothing else")
    return path.resolve()


@runs_app.command("export")
@handle_errors
def runs_export(
    run: str = typer.Argument(..., help="A run id (or a unique start, a folder, 'latest')."),
    csv_out: bool = typer.Option(False, "--csv", help="Comma-separated values (the format there is; say it, so "
                                 "a later format is never a surprise)."),
    out_path: Optional[Path] = typer.Option(None, "-o", "--out", help="Write to this file (default: stdout)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output file."),
) -> None:
    """A run's metrics as CSV: one row per step and per epoch event, one column per metric.

    Columns: type, t (seconds since the run started), phase, step, epoch, then every metric the
    events carry (epoch metrics and attack AUCs as metric/NAME and auc/NAME), ready for a
    spreadsheet, pandas or TensorBoard's importers.

    Example:  dau runs export latest --csv -o dau.csv
    """
    from dau_cli.files import check_output, write
    from dau_cli.runs import read_events

    if not csv_out:
        raise DauError("say the format: --csv (one row per step or epoch event)")
    path = _find(run)
    # the run's own files are inputs: never an output, --force included
    target = check_output(out_path, [path / "events.jsonl", path / "run.json"], force) if out_path else None
    rows: list[dict[str, Any]] = []
    t0 = None
    for ev in read_events(path):
        if ev["type"] not in ("step", "epoch"):
            continue
        t = ev.get("t") if isinstance(ev.get("t"), (int, float)) else None
        t0 = t if t0 is None else t0
        row: dict[str, Any] = {"type": ev["type"], "t": round(t - t0, 3) if t is not None else "",
                               "phase": ev.get("phase", ""), "step": ev.get("step", ""), "epoch": ev.get("epoch", "")}
        for k, v in ev.items():
            if k not in ("v", "t", "type", "phase", "step", "epoch", "total", "epochs") and _scalar(v):
                row[k] = v
        for group in ("metrics", "auc"):
            if isinstance(ev.get(group), dict):
                row.update({f"{'metric' if group == 'metrics' else 'auc'}/{k}": v for k, v in ev[group].items()
                            if _scalar(v)})
        rows.append(row)
    if not rows:
        raise DauError(f"run {path.name} has no step or epoch events to export")
    header = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    if target is None:
        typer.echo(buf.getvalue(), nl=False)
        return
    write(target, lambda f: f.write(buf.getvalue().encode()), force=force)
    note(f"wrote {len(rows)} rows to {escape(str(target))}")


def _scalar(v: Any) -> bool:
    return isinstance(v, (int, float, str)) and not isinstance(v, bool)
