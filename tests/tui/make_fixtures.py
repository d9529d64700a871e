"""Writes the recorded run directories under tests/tui/fixtures/runs (deterministic).

Run `python tests/tui/make_fixtures.py` to regenerate them; the snapshot tests depend on them, so
run `pytest tests/tui --snapshot-update` afterwards and look at the new SVGs.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE / "fixtures" / "runs"
T0 = 1735812000.0  # 2025-01-02 10:00:00 UTC

FORGET_ID = "20250102-100000-forget-a1b2c3"
AUDIT_ID = "20250102-103000-audit-d4e5f6"
FAILED_ID = "20250102-093000-train-0f0f0f"
DEMO_ID = "20250102-110000-demo-7d7d7d"
ATTACKS = ("confidence", "entropy", "loss")


def r(x: float, nd: int = 4) -> float:
    return round(x, nd)


def write_run(run_id: str, info: dict, events: list[dict]) -> None:
    d = ROOT / run_id
    d.mkdir(parents=True)
    info = {"schema": 1, "id": run_id, "pid": 999999, "host": "fixture-host", "outputs": {}, **info}
    (d / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    with open(d / "events.jsonl", "w") as f:
        for ev in events:
            f.write(json.dumps({"v": 1, **ev}, separators=(",", ":")) + "\n")


def ev(t: float, type: str, **data) -> dict:
    return {"t": r(t, 3), "type": type, **data}


def dau_step(rng: random.Random, t: float, step: int, total: int, epoch: int) -> dict:
    """One DAU step: the attacker's loss rises toward ln 2 as the defender wins."""
    p = step / total
    attacker = math.log(2) - 0.35 * math.exp(-4 * p) + rng.gauss(0, 0.02)
    ce = 0.25 + 0.15 * math.exp(-3 * p) + rng.gauss(0, 0.02)
    adv = 0.9 * math.exp(-3 * p) + 0.35 + rng.gauss(0, 0.03)
    bt = 0.3 * math.exp(-2 * p) + 0.05 + abs(rng.gauss(0, 0.01))
    return ev(
        t, "step", phase="dau", step=step, total=total, epoch=epoch,
        loss=r(ce), acc=r(95 + rng.gauss(0, 1), 2), images_per_s=r(850 + rng.gauss(0, 20), 1),
        attacker_loss=r(attacker), attacker_acc=r(50 + 30 * math.exp(-4 * p), 2),
        defender_loss=r(ce + adv + bt), ce=r(ce), adv=r(adv), bt=r(bt),
    )  # fmt: skip


def forget_run(rng: random.Random) -> None:
    epochs, per_epoch = 6, 25
    total = epochs * per_epoch
    t = T0
    events = [ev(t, "status", status="running"), ev(t + 0.5, "log", level="info", message="loaded checkpoint cifar10-resnet18.pt")]
    # like the engine: the attacker warms up on the original model, then an epoch-0 baseline
    warmup = 20
    events.append(ev(t + 0.6, "phase", phase="attacker warm-up", total=warmup, epochs=0))
    for s in range(1, warmup + 1):
        a = 0.69 - 0.3 * (1 - math.exp(-s / 6)) + rng.gauss(0, 0.015)
        events.append(ev(t + 0.6 + s * 0.02, "step", phase="attacker warm-up", step=s, total=warmup, epoch=0,
                         attacker_loss=r(a), attacker_acc=r(55 + 30 * (1 - math.exp(-s / 6)), 2)))  # fmt: skip
    events.append(ev(t + 1, "phase", phase="dau", total=total, epochs=epochs))
    events.append(
        ev(t + 1, "epoch", phase="dau", epoch=0, epochs=epochs,
           metrics={"forget_acc": 99.6, "retain_acc": 99.7, "val_acc": 88.4, "attacker_auc": 0.78},
           auc={a: r(0.74 - 0.03 * i) for i, a in enumerate(ATTACKS)})
    )  # fmt: skip
    step = 0
    for epoch in range(1, epochs + 1):
        for _ in range(per_epoch):
            step += 1
            t = T0 + 1 + step * 0.4
            events.append(dau_step(rng, t, step, total, epoch))
        p = epoch / epochs
        auc = {a: r(0.5 + (0.24 - 0.03 * i) * math.exp(-3 * p) + rng.gauss(0, 0.005)) for i, a in enumerate(ATTACKS)}
        metrics = {
            "forget_acc": r(99.2 - 12 * (1 - math.exp(-3 * p)), 2),
            "retain_acc": r(99.5 - 1.5 * (1 - math.exp(-3 * p)), 2),
            "val_acc": r(88.0 - 0.8 * p, 2),
            "attacker_auc": r(0.5 + 0.28 * math.exp(-4 * p) + rng.gauss(0, 0.005)),
        }
        events.append(ev(t + 0.1, "epoch", phase="dau", epoch=epoch, epochs=epochs, metrics=metrics, auc=auc))
    events.append(ev(t + 0.2, "log", level="warning", message="bt weight clipped to 1.0 at epoch 4"))
    summary = {"ua": 12.4, "ra": 98.1, "test_acc": 87.2, "mia_efficacy": 0.512}
    events.append(ev(t + 0.3, "result", metrics=summary))
    events.append(ev(t + 0.4, "status", status="completed"))
    write_run(
        FORGET_ID,
        {
            "command": "forget",
            "argv": ["forget", "--recipe", "cifar10-resnet18", "--method", "dau", "--forget", "random:10%"],
            "config": {"method": "dau", "recipe": "cifar10-resnet18", "epochs": epochs,
                       "checkpoint": "/data/models/cifar10-resnet18.pt"},
            "device": "cuda:0",
            "status": "completed",
            "started": T0,
            "ended": r(t + 0.4, 3),
            "summary": summary,
        },
        events,
    )


def roc_curve(rng: random.Random, auc: float, n: int = 60) -> tuple[list[float], list[float]]:
    """A smooth binormal-ish ROC with about the given AUC, on log-spaced FPRs."""
    k = max(auc / max(1 - auc, 1e-6), 1.0)
    fpr = [0.0] + [10 ** (-4 + 4 * i / (n - 2)) for i in range(n - 1)]
    tpr = [min(1.0, f ** (1 / k)) for f in fpr]
    return [r(f, 6) for f in fpr], [r(x, 5) for x in tpr]


def audit_run(rng: random.Random) -> None:
    t = T0 + 1800
    events = [ev(t, "status", status="running"), ev(t + 0.2, "phase", phase="audit", total=6, epochs=1)]
    events += [ev(t + 0.2 + 0.1 * s, "step", phase="audit", step=s, total=6, epoch=1) for s in range(1, 7)]
    results = {}
    i = 0
    for pair, base in (("forget_vs_val", 0.51), ("retain_vs_test", 0.6)):
        for j, attack in enumerate(ATTACKS):
            i += 1
            auc = r(base + 0.02 * j)
            fpr, tpr = roc_curve(rng, auc)
            events.append(ev(t + i, "roc", attack=attack, pair=pair, fpr=fpr, tpr=tpr, auc=auc))
            results[f"{attack}_{pair}_auc"] = auc
    summary = {"verdict": "superficial", "mia_efficacy": 0.512, "forget_auc": 0.51, "retain_auc": 0.6}
    events.append(
        ev(t + 6.9, "epoch", phase="audit", epoch=1, epochs=1, metrics={"ua": 12.4, "forget_acc": 87.6, "test_acc": 87.2},
           auc={a: results[f"{a}_forget_vs_val_auc"] for a in ATTACKS})
    )  # fmt: skip
    # the verdict event of `dau audit` against a reference bank (docs/events.md): a one-number fake
    tests = {
        "output": {"status": "pass", "value": -0.41, "reference_mean": 0.0, "reference_sd": 0.62, "references": 16,
                   "t": -0.64, "critical": 2.95, "auc": 0.47},
        "lira": {"status": "pass", "value": 0.18, "reference_mean": 0.02, "reference_sd": 0.21, "references": 16,
                 "t": 0.74, "critical": 2.95, "auc": 0.53},
        "relearn": {"status": "above", "value": 62.8, "reference_mean": 0.0, "reference_sd": 0.0, "references": 16,
                    "t": 7.9, "critical": 2.6},
        "probe": {"status": "above", "value": 100.0, "reference_mean": 84.7, "reference_sd": 2.1, "references": 16,
                  "t": 7.1, "critical": 2.6},
    }
    reasons = ["relearning: ABOVE retrained models (62.8 % of the other forget images back after 40 steps; "
               "16 references: 0.0 ± 0.0 %)",
               "representation probe: ABOVE retrained models (100.0 % against 84.7 ± 2.1 %)",
               "output: like retrained models", "membership (LiRA, IN vs OUT): like retrained models"]
    events.append(ev(t + 6.95, "verdict", verdict="superficial", reasons=reasons, tests=tests))
    events.append(ev(t + 7, "result", metrics=summary))
    events.append(ev(t + 7.1, "status", status="completed"))
    write_run(
        AUDIT_ID,
        {
            "command": "audit",
            "argv": ["audit", "--checkpoint", "forgotten.pt"],
            "config": {"attacks": list(ATTACKS), "checkpoint": "forgotten.pt"},
            "device": "cuda:0",
            "status": "completed",
            "started": t,
            "ended": t + 7.1,
            "summary": summary,
        },
        events,
    )


def failed_run(rng: random.Random) -> None:
    t = T0 - 1800
    total = 40
    events = [ev(t, "status", status="running"), ev(t + 0.5, "phase", phase="train", total=total, epochs=2)]
    for step in range(1, 31):
        loss = 2.3 * math.exp(-step / 15) + 0.3 + rng.gauss(0, 0.03)
        acc = 100 * (1 - math.exp(-step / 12)) * 0.9 + rng.gauss(0, 1)
        events.append(ev(t + 1 + step * 0.2, "step", phase="train", step=step, total=total, epoch=1 + step // 20, loss=r(loss), acc=r(acc, 2)))
        if step == 20:
            events.append(ev(t + 5.05, "epoch", phase="train", epoch=1, epochs=2, metrics={"train_acc": 61.3, "val_acc": 58.9}, auc={}))
    error = "CUDA out of memory: tried to allocate 2.00 GiB (try a smaller --batch-size)"
    events.append(ev(t + 7.2, "log", level="error", message=error))
    events.append(ev(t + 7.3, "status", status="failed", error=error))
    write_run(
        FAILED_ID,
        {
            "command": "train",
            "argv": ["train", "--recipe", "cifar10-resnet18"],
            "config": {"recipe": "cifar10-resnet18", "epochs": 2},
            "device": "cuda:0",
            "status": "failed",
            "started": t,
            "ended": t + 7.3,
            "summary": {},
            "error": error,
        },
        events,
    )


def demo_run(rng: random.Random) -> None:
    """`dau demo`: a training, DAU (a long attacker warm-up, then a short game), then one verdict per
    model in the order the demo judges them (original, dau, retrain, fake); the events name no model."""
    t = T0 + 3600
    events = [ev(t, "status", status="running"), ev(t + 0.1, "log", level="info", message="1/4 training a cnn on digits"),
              ev(t + 0.2, "phase", phase="train", total=60, epochs=3)]
    for step in range(1, 61):
        loss = 2.3 * math.exp(-step / 12) + 0.05 + rng.gauss(0, 0.02)
        events.append(ev(t + 0.2 + step * 0.1, "step", phase="train", step=step, total=60, epoch=1 + (step - 1) // 20,
                         loss=r(loss), acc=r(100 * (1 - math.exp(-step / 10)), 2), images_per_s=r(150 + rng.gauss(0, 5), 1)))
        if step % 20 == 0:
            events.append(ev(t + 0.25 + step * 0.1, "epoch", phase="train", epoch=step // 20, epochs=3,
                             metrics={"train_acc": r(100 - 30 / step, 2), "val_acc": r(98 - 40 / step, 2)}, auc={}))
    t += 7
    warmup, total = 300, 40
    events += [ev(t, "log", level="info", message="2/4 forgetting class 3 with DAU"),
               ev(t + 0.1, "phase", phase="attacker warm-up", total=warmup, epochs=0)]
    for s in range(1, warmup + 1):
        a = 0.69 - 0.45 * (1 - math.exp(-s / 60)) + rng.gauss(0, 0.01)
        events.append(ev(t + 0.1 + s * 0.01, "step", phase="attacker warm-up", step=s, total=warmup, epoch=0,
                         attacker_loss=r(a), attacker_acc=r(55 + 40 * (1 - math.exp(-s / 60)), 2)))
    t += 4
    events.append(ev(t, "phase", phase="dau", total=total, epochs=4))
    for step in range(1, total + 1):
        events.append(dau_step(rng, t + step * 0.2, step, total, 1 + (step - 1) // 10))
        if step % 10 == 0:
            p = step / total
            events.append(ev(t + step * 0.2 + 0.05, "epoch", phase="dau", epoch=step // 10, epochs=4,
                             metrics={"forget_acc": r(99 * (1 - p), 2), "retain_acc": r(99.5 - p, 2), "attacker_auc": r(0.8 - 0.3 * p)},
                             auc={a: r(0.8 - 0.3 * p - 0.01 * i) for i, a in enumerate(ATTACKS)}))
    t += 10
    events.append(ev(t, "log", level="info", message="4/4 verdicts against 4 + 4 reference models"))
    verdicts = [("not forgotten", "output: ABOVE retrained models (z 14.2; 4 references: 0.0 ± 0.9)"),
                ("forgotten", "all four tests like retrained models"),
                ("forgotten", "all four tests like retrained models"),
                ("superficial", "relearning: ABOVE retrained models (100.0 % of the other forget images back after 40 steps)")]
    for i, (verdict, reason) in enumerate(verdicts):
        events.append(ev(t + i, "verdict", verdict=verdict, reasons=[reason], tests={}))
    summary = {"verdict": "forgotten", "ua": 100.0, "ra": 99.83, "ta": 96.89, "mia_efficacy": 100.0, "time_ratio": 0.74}
    events += [ev(t + 4, "result", metrics=summary), ev(t + 4.1, "status", status="completed")]
    write_run(
        DEMO_ID,
        {
            "command": "demo",
            "argv": ["demo"],
            "config": {"recipe": "digits-cnn"},
            "device": "cpu",
            "status": "completed",
            "started": T0 + 3600,
            "ended": r(t + 4.1, 3),
            "summary": summary,
            "outputs": {m: f"/runs/{DEMO_ID}/{m}.pt" for m in ("original", "dau", "retrain", "fake")},
        },
        events,
    )


def main() -> None:
    if ROOT.exists():
        shutil.rmtree(ROOT)
    rng = random.Random(7)
    forget_run(rng)
    audit_run(rng)
    failed_run(rng)
    demo_run(rng)
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    print(f"wrote {ROOT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
