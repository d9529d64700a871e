"""Acceptance benchmark of the audit's verdict (issue 10): every row of docs/results.md, "Verdicts".

For each forget set (class 3; a random 10 % of D_train drawn with seed 0) and each original digits
model (`dau train` defaults, seeds 0-4), it audits against one reference bank of 16 OUT and 16 IN
references (seeds 10000+ and 20000+, never an audited model's seed):

- the original model, and the one-number fake of it (`tamper.bias_fake`, class bias lowered by 30);
- fresh retrained models (`dau forget --method retrain`, seeds 100-109, never in the bank);
- every unlearning method (dau, retrain, ft, ga, rl, l1, salun, scrub) on each original.

It also times the bank's cost as a user meets it: the first `dau audit ... --references 16
--workers 2` (trains the bank) and a re-audit with the bank in place, each a fresh process.

Every cell is a JSON file in OUT/cells, so an interrupted run resumes; `--only` restricts the rows.

    python benchmarks/audit_verdicts.py --out docs/results/audit-verdicts            # everything
    python benchmarks/audit_verdicts.py --out /tmp/v --modes class --originals 0 --fresh 3 --methods dau
    python benchmarks/audit_verdicts.py --recipe fashion-lenet --classes 0 --references 8 --originals 0,1,2 \
        --fresh 5 --methods "" --out docs/results/fashion-audit        # Fashion-MNIST (issue 24)

`--recipe` and `--classes` choose the data set, model and forgotten class (default: the digits,
class 3); the random forget set is 10 % of D_train drawn with seed 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

METHODS = ("dau", "retrain", "ft", "ga", "rl", "l1", "salun", "scrub")
FORGET = {"class": {"classes": "3"}, "random": {"random": 0.1, "seed": 0}}  # --classes changes the class
FLAGS = {"class": ["--classes", "3"], "random": ["--random", "0.1", "--seed", "0"]}
RECIPE = "digits-cnn"  # --recipe changes it


def configure(recipe: str, classes: str) -> None:
    """The recipe and class every step (and every worker process, forked after this) uses."""
    global RECIPE
    RECIPE = recipe
    FORGET["class"]["classes"] = classes
    FLAGS["class"][1] = classes
FRESH_SEED_BASE = 100  # fresh retrains: seeds 100-109, outside the bank's 10000+ and 20000+


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="results: verdicts.json, verdicts.md, cells/")
    p.add_argument("--work", type=Path, default=None, help="models and DAU_HOME (the bank); default OUT/work")
    p.add_argument("--phase", choices=("models", "verdicts", "all", "first-audit"), default="all",
                   help="models: train and unlearn (the slow part); verdicts: audit what exists; "
                        "first-audit: time a first `dau audit --references K` on an empty bank")
    p.add_argument("--modes", default="class,random")
    p.add_argument("--originals", default="0,1,2,3,4")
    p.add_argument("--fresh", type=int, default=10)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--references", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--recipe", default="digits-cnn", help="the originals' recipe (digits-cnn, fashion-lenet, ...)")
    p.add_argument("--classes", default="3", help="the class (or classes) class forgetting forgets")
    p.add_argument("--skip-cost", action="store_true", help="no timed re-audits of the bank (runs that only add rows)")
    args = p.parse_args()
    configure(args.recipe, args.classes)
    work = (args.work or args.out / "work").resolve()
    os.environ.setdefault("DAU_HOME", str(work / "home"))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    (args.out / "cells").mkdir(parents=True, exist_ok=True)
    (work / "models").mkdir(parents=True, exist_ok=True)
    originals = [int(s) for s in args.originals.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    modes = args.modes.split(",")
    plan = rows(modes, originals, methods, args.fresh)
    if args.phase in ("models", "all"):
        make_models(work, plan, originals, modes, args)
    if args.phase == "first-audit":
        print(bank_cost(args.out, work, originals[0], args.references, args.workers, first=True))
    if args.phase in ("verdicts", "all"):
        cells = [c for c in (verdict_cell(args.out, work, row, args.references, args.workers) for row in plan) if c]
        cost = {} if args.skip_cost else bank_cost(args.out, work, originals[0], args.references, args.workers)
        write_json(args.out / "verdicts.json", {"cost": cost, "cells": cells, "references": args.references,
                                                "machine": machine(), "missing": len(plan) - len(cells)})
        (args.out / "verdicts.md").write_text(markdown(cells, cost, args.references))
        print((args.out / "verdicts.md").read_text())


def rows(modes: list[str], originals: list[int], methods: list[str], fresh: int) -> list[tuple]:
    """(mode, kind, original seed, seed) in the order that matters most: fresh retrains and the
    originals' own rows first, then the methods seed by seed."""
    plan = []
    for mode in modes:
        plan += [(mode, "fresh retrain", originals[0], FRESH_SEED_BASE + j) for j in range(fresh)]
        for s in originals:
            plan += [(mode, "original", s, s)] + ([(mode, "fake", s, s)] if mode == "class" else [])
    for s in originals:
        for mode in modes:
            plan += [(mode, m, s, s) for m in methods]
    return plan


def model_path(work: Path, row: tuple) -> Path:
    mode, kind, orig, seed = row
    if kind in ("original", "fake"):
        return work / "models" / f"original-{orig}.pt"
    return work / "models" / f"{mode}-{kind.replace(' ', '_')}-o{orig}-s{seed}.pt"


def make_models(work: Path, plan: list[tuple], originals: list[int], modes: list[str], args) -> None:
    """Everything slow, in order of importance: originals, banks, fresh retrains, methods."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(args.workers) as pool:
        list(pool.map(original, [work] * len(originals), originals))
    for mode in modes:
        ensure_bank(work, originals[0], mode, args.references, args.workers)
    todo = [r for r in plan if r[1] not in ("original", "fake") and not model_path(work, r).exists()]
    with ProcessPoolExecutor(args.workers) as pool:
        for row, took in zip(todo, pool.map(unlearned, [work] * len(todo), todo)):
            print(f"made {row} in {took:.0f} s", flush=True)


def ensure_bank(work: Path, seed: int, mode: str, k: int, workers: int) -> None:
    from dau_cli.engine.audit import forget_set_for_audit
    from dau_cli.engine.bank import bank_for
    from dau_cli.engine.checkpoint import load_checkpoint, restore

    ckpt = load_checkpoint(work / "models" / f"original-{seed}.pt")
    _, data = restore(ckpt, "cpu")
    outcomes = bank_for(ckpt, forget_set_for_audit(ckpt, data, **FORGET[mode])).ensure(k, workers)
    print(f"bank {mode}: {[o.status for o in outcomes].count('done')} trained", flush=True)


def unlearned(work: Path, row: tuple) -> float:
    from dau_cli.config import resolve
    from dau_cli.engine import operations
    from dau_cli.engine.audit import forget_set_for_audit
    from dau_cli.engine.checkpoint import save_checkpoint
    from dau_cli.runs import EventSink

    mode, kind, orig, seed = row
    t0 = time.perf_counter()
    opened = operations.open_checkpoint(work / "models" / f"original-{orig}.pt", "cpu")
    fs = forget_set_for_audit(opened.ckpt, opened.data, **FORGET[mode])
    method = "retrain" if kind == "fresh retrain" else kind
    done = operations.forget(opened, fs, method, resolve(RECIPE, {"train.device": "cpu"}), EventSink(), seed)
    save_checkpoint(done.checkpoint, model_path(work, row))
    return time.perf_counter() - t0


def machine() -> str:
    return f"{os.cpu_count()}-core CPU, load average {os.getloadavg()[0]:.1f} at the end, {time.strftime('%Y-%m-%d')}"


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    os.replace(tmp, path)


def original(work: Path, seed: int) -> Path:
    """The original model of the recipe with this seed (trained once)."""
    return original_model(RECIPE, work / "models", seed)


def original_model(recipe: str, folder: Path, seed: int) -> Path:
    """`folder/original-SEED.pt`: the recipe trained with this seed on the CPU, once (also dau_verdicts.py's)."""
    from dau_cli.config import resolve
    from dau_cli.engine.checkpoint import save_checkpoint
    from dau_cli.engine import operations
    from dau_cli.runs import EventSink

    path = folder / f"original-{seed}.pt"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        ckpt = operations.train(resolve(recipe, {"train.seed": seed, "train.device": "cpu"}), EventSink()).checkpoint
        save_checkpoint(ckpt, path)
    return path


def bank_cost(out: Path, work: Path, seed: int, k: int, workers: int, first: bool = False) -> dict:
    """The bank's cost as a user meets it, each a fresh `dau audit` process: a re-audit with the bank
    in place (3 times), the training time the bank's references recorded, and with `first` the
    first audit that trains the whole bank (a bank of its own, so nothing is reused)."""
    path = out / "cost.json"
    cost = json.loads(path.read_text()) if path.exists() else {}
    ckpt = work / "models" / f"original-{seed}.pt"
    cmd = [sys.executable, "-m", "dau_cli", "audit", str(ckpt), *FLAGS["class"], "--json", "--device", "cpu",
           "--references", str(k)]
    if "re_audit_s" not in cost:
        again = []
        for _ in range(3):
            t0 = time.perf_counter()
            r = subprocess.run(cmd, check=True, capture_output=True, text=True)
            again.append(time.perf_counter() - t0)
        report = json.loads(r.stdout)
        from dau_cli.engine.audit import forget_set_for_audit
        from dau_cli.engine.bank import bank_for
        from dau_cli.engine.checkpoint import load_checkpoint as load, restore
        from dau_cli.engine.jobs import load_result

        original_ckpt = load(ckpt)
        bank = bank_for(original_ckpt, forget_set_for_audit(original_ckpt, restore(original_ckpt)[1], **FORGET["class"]))
        walls = [load_result(bank.path(kind, s))["wall_time_s"] for kind in ("out", "in") for s in bank.available(kind)[:k]]
        cost.update(re_audit_s=again, verdict=report["verdict"], command=" ".join(cmd[1:]), load_re_audit=os.getloadavg()[0],
                    reference_train_s={"count": len(walls), "sum": sum(walls), "mean": sum(walls) / max(len(walls), 1)})
    if first and "first_audit_s" not in cost:
        env = {**os.environ, "DAU_HOME": str(work / f"first-home-{int(time.time())}")}
        t0 = time.perf_counter()
        subprocess.run([*cmd, "--workers", str(workers)], check=True, capture_output=True, env=env)
        cost.update(first_audit_s=time.perf_counter() - t0, workers=workers, load_first=os.getloadavg()[0])
    cost["references"] = k
    write_json(path, cost)
    return cost


def verdict_cell(out: Path, work: Path, row: tuple, k: int, workers: int) -> dict | None:
    """Audit one model (if it exists) against the bank: the literature's numbers and the verdict."""
    from dau_cli.engine import operations
    from dau_cli.engine.audit import forget_set_for_audit
    from dau_cli.engine.tamper import bias_fake
    from dau_cli.runs import EventSink

    mode, kind, orig, seed = row
    cell_path = out / "cells" / f"{mode}-{kind.replace(' ', '_')}-o{orig}-s{seed}.json"
    if cell_path.exists():
        cell = json.loads(cell_path.read_text())
        if "wall_time_s" not in cell and model_path(work, row).exists():  # a cell from before costs were kept
            cell.update(cost_of(model_path(work, row), kind))
            write_json(cell_path, cell)
        return cell
    if not model_path(work, row).exists():
        return None
    opened = operations.open_checkpoint(model_path(work, row), "cpu")
    fs = forget_set_for_audit(opened.ckpt, opened.data, **FORGET[mode])
    if kind == "fake":
        opened = operations.open_checkpoint(bias_fake(opened.ckpt, list(fs.classes)), "cpu", data=opened.data)
    t0 = time.perf_counter()
    v = operations.audit(opened, fs, EventSink(), references=k, workers=workers)
    cell = {"mode": mode, "kind": kind, "original_seed": orig, "seed": seed, "verdict": v["verdict"],
            "reasons": v["reasons"], "tests": slim(v["tests"]), "references": v["references"],
            **{key: v.get(key) for key in ("ua", "ra", "ta", "mia_efficacy")},
            "audit_s": time.perf_counter() - t0, **cost_of(model_path(work, row), kind)}
    write_json(cell_path, cell)
    print(f"{mode} {kind} (original {orig}, seed {seed}): {v['verdict']}", flush=True)
    return cell


def cost_of(path: Path, kind: str) -> dict:
    """The unlearning's wall time and image passes, as its checkpoint's last lineage entry records
    them (an original's, the fake's: its training's)."""
    from dau_cli.engine.checkpoint import load_checkpoint

    entry = load_checkpoint(path)["lineage"][-1]
    return {"wall_time_s": entry["wall_time_s"], "image_passes": entry["image_passes"], "op": entry["op"]}


def slim(tests: dict) -> dict:
    """The numbers of each test a table needs (no per-sample arrays)."""
    out = {}
    for name, t in tests.items():
        s = {k: t[k] for k in ("status", "value", "reference_mean", "reference_sd", "references", "t", "why",
                               "share_above", "share_below", "reference_values", "curve") if k in t}
        if "roc" in t:
            s["auc"], s["auc_ci"] = t["roc"]["auc"], t["roc"]["auc_ci"]
            s["tpr_at_fpr"], s["tpr_at_fpr_low"] = t["roc"]["tpr_at_fpr"], t["roc"]["tpr_at_fpr_low"]
        if "power" in t:
            s["power"] = t["power"]
        out[name] = s
    return out


def cost_table(cells: list[dict]) -> list[str]:
    """Per original: each method's verdict, UA, TA and wall time next to retraining's (same run)."""
    rows = [c for c in cells if c["kind"] not in ("original", "fake", "fresh retrain") and "wall_time_s" in c]
    if not rows:
        return []
    retrain = {(c["mode"], c["original_seed"]): c for c in rows if c["kind"] == "retrain"}
    lines = ["", "| forget set | method | original | verdict | UA | TA | wall time s | image passes | time / retrain's |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in rows:
        r = retrain.get((c["mode"], c["original_seed"]))
        ratio = f"{c['wall_time_s'] / r['wall_time_s']:.2f}" if r else "—"
        lines.append(f"| {c['mode']} | {c['kind']} | {c['original_seed']} | {c['verdict']} | {c['ua']:.2f} | "
                     f"{c['ta']:.2f} | {c['wall_time_s']:.1f} | {c['image_passes']:,} | {ratio} |")
    return lines


def markdown(cells: list[dict], cost: dict, k: int) -> str:
    from collections import Counter, defaultdict

    lines = [f"References: {k} OUT + {k} IN per forget set.", ""]
    if cost.get("reference_train_s"):
        first = (f"first `dau audit --references {k} --workers {cost['workers']}` {cost['first_audit_s']:.0f} s; "
                 if "first_audit_s" in cost else "")
        rt = cost["reference_train_s"]
        lines += [f"Bank cost: {first}training the {rt['count']} class-{FORGET['class']['classes']} references took {rt['sum']:.0f} s of "
                  f"training time in all ({rt['mean']:.1f} s each); re-audit with the bank in place "
                  f"{min(cost['re_audit_s']):.1f}-{max(cost['re_audit_s']):.1f} s (fresh processes).", ""]
    by = defaultdict(list)
    for c in cells:
        by[(c["mode"], c["kind"])].append(c)
    lines += ["| forget set | model | verdicts | output z (mean) | LiRA (mean) | relearn % | probe % | "
              "UA | MIA-Eff. |", "|---|---|---|---|---|---|---|---|---|"]

    def mean(cs, test, key="value"):
        vals = [c["tests"].get(test, {}).get(key) for c in cs]
        vals = [v for v in vals if v is not None]
        return f"{sum(vals) / len(vals):.2f}" if vals else "—"

    for (mode, kind), cs in by.items():
        counts = Counter(c["verdict"] for c in cs)
        verdicts = ", ".join(f"{v} {n}/{len(cs)}" for v, n in counts.most_common())
        lines.append(f"| {mode} | {kind} | {verdicts} | {mean(cs, 'output')} | {mean(cs, 'lira')} | "
                     f"{mean(cs, 'relearn')} | {mean(cs, 'probe')} | "
                     f"{sum(c['ua'] for c in cs) / len(cs):.1f} | {sum(c['mia_efficacy'] for c in cs) / len(cs):.1f} |")
    lines += cost_table(cells)
    refs = [c for c in cells if c["kind"] == "original"]
    if refs:
        lines += ["", "Reference values (retrained models, leave-one-out) and power (IN references flagged):", ""]
        for mode in sorted({c["mode"] for c in refs}):
            c = next(x for x in refs if x["mode"] == mode)
            for test in ("output", "lira", "relearn", "probe"):
                t = c["tests"].get(test, {})
                pw = t.get("power", {})
                extra = (f"; IN vs OUT: Cohen's d {pw['cohens_d']:.2f}, per-sample AUC {pw['per_sample_auc']:.3f}, "
                         f"IN references flagged {100 * pw['in_flagged']:.0f} %") if pw else ""
                if "reference_mean" in t:
                    lines.append(f"- {mode}, {test}: {t['reference_mean']:.2f} ± {t['reference_sd']:.2f}{extra}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
