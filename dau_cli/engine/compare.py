"""`dau compare`: every method against retraining, over seeds, with the untouched original as a row.

Each (checkpoint, method, seed) cell is one job of the job layer (dau_cli/engine/jobs.py), so
cells run in this process, in worker processes or on Ray: restore the original weights, draw the
seed's forget set, unlearn, audit. Finished cells are JSON files in the output folder, keyed by
what determines them (checkpoint file digest, forget set, method config, seed), so an interrupted
comparison resumes where it stopped and a changed setting recomputes only what it affects.
Avg. Gap is measured against the `retrain` cell of the same checkpoint and seed.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Callable
from pathlib import Path

from dau_cli.engine.checkpoint import load_checkpoint, restore, restore_model
from dau_cli.engine.forget import unlearn
from dau_cli.engine.forget_sets import select_forget_set
from dau_cli.engine.jobs import Executor, Job, failures, run_jobs
from dau_cli.errors import DauError
from dau_cli.runs import EventSink, Run

METRICS = ("ua", "ra", "ta", "mia_efficacy", "avg_gap", "wall_time_s", "image_passes")
GAP_KEYS = ("ua", "ra", "ta", "mia_efficacy")


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


CELL_NUMBERS = (*GAP_KEYS, "val_acc", "wall_time_s", "image_passes")


def check_cell(path: Path, key: dict) -> None:
    """A cell file that is there must hold the cell for `key`. One that does not (not JSON, another
    key, a missing or non-numeric metric) is refused, never silently reused or replaced."""
    if not path.exists():
        return
    try:
        cell = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DauError(f"cell file {path} is unreadable ({type(e).__name__}); delete it and the cell is computed again") from None
    problem = ("it is not a JSON object" if not isinstance(cell, dict) else
               "it was made for other settings" if {k: cell.get(k) for k in ("label", "method", "seed")}
               != {k: key[k] for k in ("label", "method", "seed")} else
               next((f"its {k} is not a number" for k in CELL_NUMBERS if not isinstance(cell.get(k), (int, float))
                     or isinstance(cell.get(k), bool) or cell[k] != cell[k]), None))
    if problem:
        raise DauError(f"cell file {path} does not hold a cell ({problem}); delete it and the cell is computed again")


def cell_key(label: str, checkpoint_digest: str, forget_spec: dict, method: str, method_cfg: dict, seed: int) -> dict:
    """What determines a cell; its file name carries a digest of this."""
    return {"label": label, "checkpoint": checkpoint_digest, "forget": forget_spec, "method": method,
            "config": method_cfg, "seed": seed}


def cell_path(out_dir: Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return out_dir / "cells" / f"{key['label']}-{key['method']}-seed{key['seed']}-{digest}.json"


_LOADED: dict[tuple, tuple] = {}  # per process: the last checkpoint and its data, shared by its cells


def _load(checkpoint: str, digest: str, device, data_root: str | None):
    key = (checkpoint, digest, str(device), data_root)
    if key not in _LOADED:
        _LOADED.clear()
        ckpt = load_checkpoint(checkpoint)
        model, data = restore(ckpt, device, data_root)
        _LOADED[key] = (ckpt, data)
    return _LOADED[key]


#: The comparison's own event sink while `compare` runs its cells in this process (None in worker
#: processes and on Ray): each cell's loops are passed on to it as `job` events, so the terminal
#: and the dashboard following the comparison show the current cell's progress (docs/events.md).
_COMPARE_SINK: EventSink | None = None


def _pass_on(job: str) -> Callable[[dict], None]:
    def listener(event: dict) -> None:
        if _COMPARE_SINK is not None and event["type"] in ("phase", "step"):
            _COMPARE_SINK.emit(event["type"], job=job, **{k: v for k, v in event.items() if k not in ("v", "t", "type")})

    return listener


def run_cell(checkpoint: str, key: dict, config: dict, device: str, data_root: str | None = None) -> dict:
    """One cell, in whatever process the job layer runs it: restore the original, draw the seed's
    forget set, unlearn (unless `original`), audit. Returns the cell's JSON-able dict."""
    from dau_cli.config import resolve
    from dau_cli.engine.audit import audit
    from dau_cli.engine.train import pick_device

    dev = pick_device(device)
    ckpt, data = _load(checkpoint, key["checkpoint"], dev, data_root)
    model = restore_model(ckpt, dev)
    forget_spec = dict(key["forget"])
    if "indices" in forget_spec:
        forget_spec["indices"] = Path(forget_spec["indices"])
    method, seed = key["method"], key["seed"]
    fs = select_forget_set(data.labels, data.splits["train"], seed=seed, num_classes=data.num_classes,
                           class_names=ckpt.get("class_names"), **forget_spec)
    # Its own run directory, where it runs, so the dashboard can follow the cell's unlearning.
    run = Run("compare-cell", [f"{method} seed {seed} ({key['label']})"], {"cell": key}, str(dev))
    run.listeners.append(_pass_on(f"{method} seed {seed}" + (f" {key['label']}" if key["label"] != "dense" else "")))
    try:
        cost = {"wall_time_s": 0.0, "image_passes": 0}
        if method != "original":
            cost = unlearn(ckpt, model, data, fs, method, resolve(base=config), run, seed)
        report = audit(model, data, fs, sink=run)
        cell = {**key, **{k: report[k] for k in GAP_KEYS}, "val_acc": report["val_acc"],
                "wall_time_s": cost["wall_time_s"], "image_passes": cost["image_passes"],
                "forget_size": len(fs.indices),
                "forget_digest": hashlib.sha256(fs.indices.numpy().tobytes()).hexdigest()[:12]}
    except BaseException as e:
        run.finish("interrupted" if isinstance(e, KeyboardInterrupt) else "failed", error=f"{type(e).__name__}: {e}")
        raise
    run.update(summary={k: cell[k] for k in (*GAP_KEYS, "wall_time_s", "image_passes")})
    run.finish("completed")
    return cell


def compare(checkpoints: dict[str, Path], forget_spec: dict, methods: list[str], seeds: list[int], config: dict,
            out_dir: Path, sink: EventSink, device: str = "auto", data_root: str | None = None,
            executor: Executor | None = None) -> dict:
    """Run every (checkpoint, method, seed) cell not already on disk as a job on `executor`
    (this process by default); return the table as a dict.

    `device` is resolved where each cell runs (auto: that worker's GPU if it has one). A cell that
    fails is reported with the others finished and kept; the comparison then stops with one line.
    """
    from dau_cli.config import as_dict
    from dau_cli.engine.unlearn import check_method

    for m in methods:
        check_method(m)
    if "retrain" not in methods:
        methods = ["retrain", *methods]  # the reference every gap is measured against
    config_dict = as_dict(config)
    for path in checkpoints.values():  # a damaged checkpoint is one line before any cell starts
        load_checkpoint(path)
    digests = {label: file_digest(p) for label, p in checkpoints.items()}
    spec = {k: str(v) if isinstance(v, Path) else v for k, v in forget_spec.items()}
    jobs = []
    for label, path in checkpoints.items():
        for seed in seeds:
            for method in ["original", *methods]:
                method_cfg = config_dict[method] if method != "original" else {}
                key = cell_key(label, digests[label], spec, method, method_cfg, seed)
                check_cell(cell_path(out_dir, key), key)
                jobs.append(Job("dau_cli.engine.compare:run_cell",
                                {"checkpoint": str(path), "key": key, "config": config_dict, "device": str(device),
                                 "data_root": data_root},
                                cell_path(out_dir, key), label=f"{method} seed {seed} ({label})"))
    global _COMPARE_SINK
    _COMPARE_SINK = sink
    try:
        outcomes = run_jobs(jobs, executor, sink, phase="compare")
    finally:
        _COMPARE_SINK = None
    problem = failures(outcomes)
    if problem:
        raise DauError(f"compare: {problem}")
    return table([o.result for o in outcomes], checkpoints, methods, seeds)


def table(cells: list[dict], checkpoints: dict, methods: list[str], seeds: list[int]) -> dict:
    by = {(c["label"], c["method"], c["seed"]): c for c in cells}
    rows = []
    for label in checkpoints:
        for method in ["original", *methods]:
            vals: dict[str, list[float]] = {k: [] for k in METRICS}
            for s in seeds:
                c, ref = by[(label, method, s)], by[(label, "retrain", s)]
                gap = sum(abs(c[k] - ref[k]) for k in GAP_KEYS) / len(GAP_KEYS)
                for k in METRICS:
                    vals[k].append(gap if k == "avg_gap" else float(c[k]))
            name = method if len(checkpoints) == 1 else f"{method} ({label})"
            rows.append({"method": name, "checkpoint": label, "seeds": list(seeds),
                         **{k: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0}
                            for k, v in vals.items()}})
    return {"rows": rows}


def markdown(result: dict, title: str) -> str:
    head = "| method | UA | RA | TA | MIA-Efficacy | Avg. Gap ↓ | wall time (s) | image passes |"
    lines = [f"### {title}", "", head, "|" + "---|" * 8]
    for r in result["rows"]:
        def ms(k: str, fmt: str = ".2f") -> str:
            return f"{r[k]['mean']:{fmt}} ± {r[k]['std']:{fmt}}"

        lines.append(f"| {r['method']} | {ms('ua')} | {ms('ra')} | {ms('ta')} | {ms('mia_efficacy')} | "
                     f"{ms('avg_gap')} | {ms('wall_time_s')} | {r['image_passes']['mean']:,.0f} |")
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
