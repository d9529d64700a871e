"""`dau compare`: every method against retraining, over seeds, with the untouched original as a row.

Each (checkpoint, method, seed) cell is one job of the job layer (dau_cli/engine/jobs.py), so
cells run in this process, in worker processes or on Ray: restore the original weights, draw the
seed's forget set, unlearn, audit. Finished cells are JSON files in the output folder, keyed by
what determines them (checkpoint file digest, forget set, method config, seed; and the row's name
for a method with settings, `dau[dau.repair_lr=0.03]`), so an interrupted comparison resumes where
it stopped and a changed setting recomputes only what it affects.
Avg. Gap is measured against the `retrain` cell of the same checkpoint and seed.

With `references` K > 0 every cell also gets the audit's verdict (engine/audit_verdict.py) against K
OUT and K IN references of the reference bank (engine/bank.py). The driver fills each bank the
cells need first (one per checkpoint and forget set: one per seed in random forgetting), as jobs
on the comparison's own workers or Ray, so a cell only reads it. K is part of a cell's key only
when it is above 0: cells computed without a verdict stay valid.
"""

from __future__ import annotations

import functools
import hashlib
import json
import statistics
from collections.abc import Callable
from pathlib import Path

from dau_cli.engine import forgetting_quality, operations
from dau_cli.engine.audit import AVG_GAP_METRICS, avg_gap
from dau_cli.engine.bank import indices_digest
from dau_cli.engine.checkpoint import load_checkpoint
from dau_cli.engine.jobs import Executor, InProcess, Job, failures, run_jobs
from dau_cli.errors import DauError
from dau_cli.runs import EventSink, Run
from dau_cli.verdicts import TESTS, VERDICTS

METRICS = ("ua", "ra", "ta", "mia_efficacy", "avg_gap", "wall_time_s", "image_passes")


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


CELL_NUMBERS = (*AVG_GAP_METRICS, "val_acc", "wall_time_s", "image_passes")


def _relearn_steps() -> list[int]:
    from dau_cli.engine.verdict import TAMPER_SETTINGS

    return [s for s in TAMPER_SETTINGS["relearn"]["steps"] if s > 0]


def _columns(test: str) -> list[tuple[str, str]]:
    """(key, column head) of a test's numbers in a judged cell: one per relearning step count for
    `relearn`, one for the others."""
    name = TESTS[test]
    if "{}" not in name.column:
        return [(name.column, name.head)]
    return [(name.column.format(s), name.head.format(s)) for s in _relearn_steps()]


#: A judged cell's numbers (None where the test could not decide, e.g. with under 3 references):
#: output_z, the forget samples' mean z-score against the OUT references (clipped to ±10); lira, the
#: trimmed mean log-likelihood ratio IN/OUT; relearn_N, the forget-set accuracy (%) after N
#: fine-tuning steps on a few forget samples; probe, a linear probe's accuracy (%) on the forget set.
VERDICT_NUMBERS = tuple(key for test in TESTS for key, _ in _columns(test))


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def check_cell(path: Path, key: dict) -> None:
    """A cell file that is there must hold the cell for `key`. One that does not (not JSON, another
    key, a missing or non-numeric metric) is refused, never silently reused or replaced."""
    if not path.exists():
        return
    try:
        cell = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DauError(f"cell file {path} is unreadable ({type(e).__name__}); delete it and the cell is computed again") from None
    same = ("label", "method", "name", "seed", "references")
    problem = ("it is not a JSON object" if not isinstance(cell, dict) else
               "it was made for other settings" if {k: cell.get(k) for k in same} != {k: key.get(k) for k in same}
               else next((f"its {k} is not a number" for k in CELL_NUMBERS if not _is_number(cell.get(k))), None))
    if not problem and key.get("references"):
        problem = (f"its verdict {cell.get('verdict')!r} is none of {', '.join(VERDICTS)}"
                   if cell.get("verdict") not in VERDICTS else
                   next((f"its {k} is neither a number nor null" for k in VERDICT_NUMBERS
                         if k not in cell or not (cell[k] is None or _is_number(cell[k]))), None))
    if problem:
        raise DauError(f"cell file {path} does not hold a cell ({problem}); delete it and the cell is computed again")


def cell_key(label: str, checkpoint_digest: str, forget_spec: dict, method: str, method_cfg: dict, seed: int,
             references: int = 0, name: str | None = None) -> dict:
    """What determines a cell; its file name carries a digest of this. `references` (the verdict's
    K) only when above 0, and `name` (a column with settings, `dau[dau.repair_lr=0.03]`: its row)
    only when it is not the bare method, so other cells keep the key they always had."""
    return {"label": label, "checkpoint": checkpoint_digest, "forget": forget_spec, "method": method,
            **({"name": name} if name and name != method else {}), "config": method_cfg, "seed": seed,
            **({"references": references} if references > 0 else {})}


def cell_path(out_dir: Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return out_dir / "cells" / f"{key['label']}-{key['method']}-seed{key['seed']}-{digest}.json"


@functools.lru_cache(maxsize=1)
def _load(checkpoint: str, digest: str, device: str, data_root: str | None) -> tuple:
    """(checkpoint, data): the last one opened in this process, shared by the cells that follow."""
    opened = operations.open_checkpoint(checkpoint, device, data_root)
    return opened.ckpt, opened.data


def _pass_on(sink: EventSink, job: str) -> Callable[[dict], None]:
    """A cell's loops passed on to the comparison's own sink as `job` events, so the terminal and the
    dashboard following the comparison show the current cell's progress (docs/events.md)."""
    def listener(event: dict) -> None:
        if event["type"] in ("phase", "step"):
            sink.emit(event["type"], job=job, **{k: v for k, v in event.items() if k not in ("v", "t", "type")})

    return listener


def run_cell(checkpoint: str, key: dict, config: dict, device: str, data_root: str | None = None,
             progress: EventSink | None = None) -> dict:
    """One cell, in whatever process the job layer runs it: restore the original, draw the seed's
    forget set, unlearn (unless `original`), each through engine/operations, then audit. Returns
    the cell's JSON-able dict. `progress`: the comparison's sink, when the cell runs in its process
    (jobs.InProcess)."""
    from dau_cli.config import resolve
    from dau_cli.engine.audit import audit
    from dau_cli.engine.train import pick_device

    dev = pick_device(device)
    ckpt, data = _load(checkpoint, key["checkpoint"], str(dev), data_root)
    opened = operations.open_checkpoint(ckpt, str(dev), data=data)  # the original's weights, afresh
    forget_spec = dict(key["forget"])
    if "indices" in forget_spec:
        forget_spec["indices"] = Path(forget_spec["indices"])
    method, seed, name = key["method"], key["seed"], key.get("name", key["method"])
    fs = operations.forget_set(opened, forget_spec, seed)
    # Its own run directory, where it runs, so the dashboard can follow the cell's unlearning.
    what = f"{name} seed {seed} ({key['label']})"  # the cell's model, which has no file name of its own
    run = Run("compare-cell", [what], {"cell": key}, str(dev))
    if progress is not None:
        run.listeners.append(_pass_on(progress, f"{name} seed {seed}" + (f" {key['label']}" if key["label"] != "dense" else "")))
    try:
        cost = {"wall_time_s": 0.0, "image_passes": 0}
        if method != "original":
            cost = operations.unlearn(opened, fs, method, resolve(base=config), run, seed)
        report = audit(opened.model, data, fs, sink=run)
        cell = {**key, **{k: report[k] for k in AVG_GAP_METRICS}, "val_acc": report["val_acc"],
                "wall_time_s": cost["wall_time_s"], "image_passes": cost["image_passes"],
                "forget_size": len(fs.indices),
                "forget_digest": indices_digest(fs.indices),
                "forget_outputs": forgetting_quality.forget_outputs(opened.model, data, fs.indices)}
        if key.get("references"):
            from dau_cli.engine.audit_verdict import audit_verdict

            # The driver filled the bank (fill_banks): this reads it and tests the unlearned model.
            cell.update(verdict_numbers(audit_verdict(ckpt, opened.model, data, fs, references=key["references"],
                                                      workers=1, sink=run, device=str(dev), name=what)))
    except BaseException as e:
        run.finish("interrupted" if isinstance(e, KeyboardInterrupt) else "failed", error=f"{type(e).__name__}: {e}")
        raise
    run.update(summary={k: cell[k] for k in ("verdict", *AVG_GAP_METRICS, "wall_time_s", "image_passes") if k in cell})
    run.finish("completed")
    return cell


def verdict_numbers(result: dict) -> dict:
    """A cell's verdict fields (VERDICT_NUMBERS) from a verdict (verdict.judge's, audit_verdict's):
    each test's value, and the relearning test's whole curve."""
    tests = result["tests"]
    numbers: dict = {"verdict": result["verdict"]}
    for test in TESTS:
        keys = [key for key, _ in _columns(test)]
        values = (tests.get(test, {}).get("curve") or [None] * len(keys) if len(keys) > 1
                  else [tests.get(test, {}).get("value")])
        numbers.update(zip(keys, values))
    return numbers


def fill_banks(checkpoints: dict[str, Path], forget_spec: dict, seeds: list[int], references: int, workers: int,
               ray: str | None, sink: EventSink, device: str = "cpu", data_root: str | None = None) -> int:
    """Top up every bank the cells will read to `references` OUT and IN references, with their
    tamper tests, on `workers` processes or Ray: one bank per checkpoint and forget set (each seed
    draws its own in random forgetting; a pruned checkpoint has its own, retrained under its
    masks, shared only with checkpoints of the same masks). Returns how many distinct banks there are."""
    from dau_cli.engine.bank import bank_for
    from dau_cli.engine.verdict import TAMPER_SETTINGS

    banks = {}
    for path in checkpoints.values():
        opened = operations.open_checkpoint(path, "cpu", data_root)
        for seed in seeds:
            bank = bank_for(opened.ckpt, operations.forget_set(opened, forget_spec, seed))
            banks.setdefault((bank.root, bank.forget_digest, bank.exclude_seeds), bank)
    for i, bank in enumerate(banks.values()):
        if len(banks) > 1:
            sink.emit("log", level="info", message=f"reference bank {i + 1} of {len(banks)}")
        problem = failures(bank.ensure(references, workers, sink, device, ray))
        if problem:
            raise DauError(f"compare --references {references}: reference bank {bank.root}: {problem}")
        bank.tamper_results(TAMPER_SETTINGS, workers, sink, device, ray, limit=references)
    return len(banks)


def compare(checkpoints: dict[str, Path], forget_spec: dict, methods: list[str], seeds: list[int], config: dict,
            out_dir: Path, sink: EventSink, device: str = "auto", data_root: str | None = None,
            executor: Executor | None = None, references: int = 0, workers: int = 1, ray: str | None = None) -> dict:
    """Run every (checkpoint, method, seed) cell not already on disk as a job on `executor`
    (this process by default); return the table as a dict. A method may carry settings of its own
    section (methods.parse_methods: `dau[dau.repair_lr=0.03]`): a row, and cells, of its own.

    With `references` K > 0 each cell is judged as well (see the module docstring); the banks are
    filled first with `workers` local processes or on `ray` (jobs.make_executor), on `device`.

    `device` is resolved where each cell runs (auto: that worker's GPU if it has one). A cell that
    fails is reported with the others finished and kept; the comparison then stops with one line.
    """
    from dau_cli.config import as_dict
    from dau_cli.engine.unlearn import check_method
    from dau_cli.methods import column_config, split_column

    for m in methods:
        check_method(split_column(m)[0])
    if "retrain" not in methods:
        methods = ["retrain", *methods]  # the reference every gap is measured against
    configs = {name: as_dict(column_config(config, name)) for name in methods}  # each with its own settings
    for path in checkpoints.values():  # a damaged checkpoint is one line before any cell starts
        load_checkpoint(path)
    digests = {label: file_digest(p) for label, p in checkpoints.items()}
    spec = {k: str(v) if isinstance(v, Path) else v for k, v in forget_spec.items()}
    if references < 0:
        raise DauError(f"--references must be 0 (no verdict) or more, got {references}; e.g. --references 16")
    # Cells run in this process pass their loops on to `sink` (the spec of a job run elsewhere stays JSON-able)
    here = {"progress": sink} if executor is None or isinstance(executor, InProcess) else {}
    jobs = []
    for label, path in checkpoints.items():
        for seed in seeds:
            for name in ["original", *methods]:
                method, column_cfg = split_column(name)[0], configs.get(name) or as_dict(config)
                key = cell_key(label, digests[label], spec, method, column_cfg.get(method, {}), seed, references, name)
                check_cell(cell_path(out_dir, key), key)
                jobs.append(Job("dau_cli.engine.compare:run_cell",
                                {"checkpoint": str(path), "key": key, "config": column_cfg, "device": str(device),
                                 "data_root": data_root, **here},
                                cell_path(out_dir, key), label=f"{name} seed {seed} ({label})"))
    if references > 0 and any(not Path(j.output).exists() for j in jobs):
        fill_banks(checkpoints, forget_spec, seeds, references, workers, ray, sink, device, data_root)
    outcomes = run_jobs(jobs, executor, sink, phase="compare")
    result = table([o.result for o in outcomes if o.result is not None], checkpoints, methods, seeds)
    problem = failures(outcomes)
    if problem:
        result["failed"] = [{"cell": o.job.name, "error": o.error} for o in outcomes if o.status == "failed"]
        raise Incomplete(f"compare: {problem}", result)
    return result


class Incomplete(DauError):
    """Some cells failed; `result` is the table of those that finished (rerun to retry the others)."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


def table(cells: list[dict], checkpoints: dict, methods: list[str], seeds: list[int]) -> dict:
    """A row per checkpoint and method, mean ± std over the seeds whose cell (and the same seed's
    retrain cell, which Avg. Gap needs) finished; a row with none is left out."""
    by = {(c["label"], c.get("name", c["method"]), c["seed"]): c for c in cells}
    rows = []
    for label in checkpoints:
        for method in ["original", *methods]:
            done = [s for s in seeds if (label, method, s) in by and (label, "retrain", s) in by]
            if not done:
                continue
            vals: dict[str, list[float]] = {k: [] for k in METRICS}
            for s in done:
                c, ref = by[(label, method, s)], by[(label, "retrain", s)]
                gap = avg_gap(c, ref)
                for k in METRICS:
                    vals[k].append(gap if k == "avg_gap" else float(c[k]))
            name = method if len(checkpoints) == 1 else f"{method} ({label})"
            if len(done) < len(seeds):
                name += f" ({len(done)} of {len(seeds)} seeds)"
            row = {"method": name, "checkpoint": label, "seeds": done,
                   **{k: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0}
                      for k, v in vals.items()}}
            judged = [by[(label, method, s)] for s in done if "verdict" in by[(label, method, s)]]
            if judged:
                row.update(verdict_columns(judged))
            quality = forgetting_quality.row(by, label, method, list(seeds))
            if quality is not None:
                row["forgetting_quality"] = quality
            rows.append(row)
    return {"rows": rows}


def verdict_columns(cells: list[dict]) -> dict:
    """A row's verdict fields: `verdicts`, how many seeds got each verdict (most common first), and
    mean ± std of each of VERDICT_NUMBERS over the seeds where its test could decide (mean None
    where none could; `n` says over how many)."""
    from collections import Counter

    counts = Counter(c["verdict"] for c in cells)
    row: dict = {"verdicts": dict(sorted(counts.items(), key=lambda kv: (-kv[1], VERDICTS.index(kv[0]))))}
    for k in VERDICT_NUMBERS:
        v = [float(c[k]) for c in cells if c.get(k) is not None]
        row[k] = {"mean": statistics.fmean(v) if v else None,
                  "std": (statistics.stdev(v) if len(v) > 1 else 0.0) if v else None, "n": len(v)}
    return row


def verdict_counts(row: dict) -> str:
    """`forgotten 4/5, superficial 1/5`: a row's verdicts over its seeds, most common first."""
    n = sum(row["verdicts"].values())
    return ", ".join(f"{v} {c}/{n}" for v, c in row["verdicts"].items())


VERDICT_HEADS = dict(column for test in TESTS for column in _columns(test))


def mean_std(cell: dict, fmt: str = ".2f", sep: str = " ± ") -> str:
    """`mean ± std` of a row's {"mean", "std"}; `—` where no seed had a value."""
    if cell["mean"] is None:
        return "—"
    return f"{cell['mean']:{fmt}}{sep}{cell['std']:{fmt}}"


def markdown(result: dict, title: str) -> str:
    judged = any("verdicts" in r for r in result["rows"])
    head = "| method | UA | RA | TA | MIA-Efficacy | Avg. Gap ↓ | wall time (s) | image passes |"
    if judged:
        head += " verdicts | " + " | ".join(VERDICT_HEADS[k] for k in VERDICT_NUMBERS) + " |"
    lines = [f"### {title}", "", head, "|" + "---|" * (8 + judged * (1 + len(VERDICT_NUMBERS)))]
    for r in result["rows"]:
        def ms(k: str, fmt: str = ".2f") -> str:
            return mean_std(r[k], fmt)

        line = (f"| {r['method']} | {ms('ua')} | {ms('ra')} | {ms('ta')} | {ms('mia_efficacy')} | "
                f"{ms('avg_gap')} | {ms('wall_time_s')} | {r['image_passes']['mean']:,.0f} |")
        if judged:
            line += (f" {verdict_counts(r) if 'verdicts' in r else '—'} | " +
                     " | ".join(ms(k, ".1f" if k.startswith(("relearn", "probe")) else ".2f") if k in r else "—"
                                for k in VERDICT_NUMBERS) + " |")
        lines.append(line)
    if judged:
        lines += ["", "verdicts: the audit's, per seed, against the reference bank (docs/audit.md); output z: mean "
                  "z-score of the forget samples' confidence against models retrained without them; LiRA: trimmed "
                  "mean log-likelihood ratio IN/OUT; relearn N %: forget-set accuracy after N fine-tuning steps; "
                  "probe %: a linear probe's accuracy on the forget set. — : no test could decide."]
    quality = [r for r in result["rows"] if "forgetting_quality" in r]
    if quality:
        n = quality[0]["forgetting_quality"]["models"]
        lines += ["", f"Forgetting quality per example (the NeurIPS 2023 challenge's F, 1 best; {n} models of each "
                  f"row against {n} retrained models of other seeds; retrain's own value is the ceiling): " +
                  ", ".join(f"{r['method']} {r['forgetting_quality']['value']:.3f}" for r in quality) + "."]
    if result.get("failed"):
        lines += ["", "Not in the table, failed (rerun to retry them; the finished cells are kept):", "",
                  *(f"- {f['cell']}: {f['error']}" for f in result["failed"])]
    return "\n".join(lines) + "\n"


def parse_seeds(text: str) -> list[int]:
    """`3` means seeds 0, 1, 2; `0,4,7` means exactly those."""
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            n = int(text)
            if n < 1:
                raise DauError(f"--seeds needs at least 1 seed, got {text}; e.g. --seeds 3")
            if n > 1000:
                raise DauError(f"--seeds {n} would run {n} seeds of every method; give at most 1000")
            return list(range(n))
    except ValueError:
        raise DauError(f"--seeds takes a count (3) or a list (0,1,2), got '{text}'") from None
    if not seeds:
        raise DauError(f"--seeds '{text}' lists no seed; e.g. --seeds 0,1,2")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise DauError(f"--seeds repeats {', '.join(map(str, repeated))}; list each seed once (a repeat would only "
                       f"count the same result twice)")
    if min(seeds) < 0:
        raise DauError(f"--seeds must be 0 or more, got {min(seeds)}")
    return seeds
