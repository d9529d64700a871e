"""DAU's class game step by step: where the forget set's outputs and the probe go (issue 24, item 2).

Unlearns a class from a checkpoint with `--method dau` and, after every defender step and after the
repair, measures a copy of the model (batch-norm statistics re-estimated on the game's calibration
sample, as the game does after each epoch): the accuracy on D_f, the mean logit-scaled confidence in the
forgotten class k over D_f ("is this a k?") and over the validation images of the other classes, and
every `--probe-every` steps the audit's linear probe (`tamper.probe`) on D_f. The measurements are not
in the game's wall time, which this script does not report. One JSON line per measurement.

    python benchmarks/dau_trajectory.py original-0.pt --classes 0 --seed 0 --out c0-s0.jsonl
    python benchmarks/dau_trajectory.py original-0.pt --classes 0 --seed 0 --set dau.repair_steps=0 --out x.jsonl
    python benchmarks/dau_trajectory.py original-0.pt --classes 0 --seed 0 --stop-per-step --out y.jsonl

`--stop-per-step` tries a variant of the game: it stops after the first step at which D_f's accuracy (as
measured above) is at most `dau.forgotten_acc`, instead of at the end of that epoch; the repair follows.

`benchmarks/class_levels.py` gives the same two levels for finished checkpoints (retrained ones too).
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import torch


def levels(model: torch.nn.Module, data, forget_idx: torch.Tensor, k: int) -> dict:
    """Accuracy on D_f (%) and the mean logit-scaled confidence in k on D_f and on the other classes' D_val."""
    from dau_cli.engine.stats import sample_stats
    from dau_cli.engine.train import predict

    labels = data.labels.cpu()
    val = data.splits["val"].cpu()
    others = val[labels[val] != k]
    out = {}
    for name, idx in (("forget", forget_idx.cpu()), ("others", others)):
        logits = predict(model, data, idx)
        s = sample_stats(logits, torch.full((len(idx),), k, device=logits.device))
        out[f"{name}_level"] = round(s["logit_scaled_confidence"].mean().item(), 3)
        if name == "forget":
            out["forget_acc"] = round(s["correct"].mean().item() * 100, 2)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--classes", type=int, required=True, help="the one class to forget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], help="a setting, as `dau forget --set` takes it")
    p.add_argument("--probe-every", type=int, default=5, help="steps between probes (the probe takes ~1 s)")
    p.add_argument("--stop-per-step", action="store_true", help="the variant: stop the game at the first forgotten step")
    p.add_argument("--out", type=Path, required=True, help="JSON lines (overwritten)")
    args = p.parse_args()

    from dau_cli.config import resolve
    from dau_cli.engine import operations, tamper
    from dau_cli.engine.train import accuracy
    from dau_cli.engine.unlearn import dau as game_module
    from dau_cli.runs import EventSink

    opened = operations.open_checkpoint(args.checkpoint, "cpu")
    fs = operations.forget_set(opened, {"classes": str(args.classes)}, seed=args.seed)
    data, rows, count = opened.data, [], {"step": 0}
    test = data.splits["test"].cpu()

    def measure(game, phase: str) -> None:
        m = copy.deepcopy(game.task.model)
        game_module.recalibrate_batch_norm(m, game.images(game.calibration, aug=False))
        m.eval()
        row = {"phase": phase, "step": count["step"], **levels(m, data, fs.indices, args.classes)}
        if phase != "dau" or count["step"] % args.probe_every == 0:
            row["probe"] = round(tamper.probe(m, data, fs.indices, data.splits["val"])["forget_acc"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)

    step, play, repair = game_module.defender_step, game_module.play, game_module.repair

    class Forgotten(Exception):
        pass

    def counted_step(game, f):
        parts = step(game, f)
        count["step"] += 1
        measure(game, "dau")
        if args.stop_per_step and rows[-1]["forget_acc"] <= game.cfg.forgotten_acc:
            raise Forgotten
        return parts

    def stoppable_play(game):
        try:
            play(game)
        except Forgotten:  # the variant: the game ends here, with the epoch's batch-norm re-estimate
            game_module.recalibrate_batch_norm(game.task.model, game.images(game.calibration, aug=False))

    def measured_repair(game):
        repair(game)
        measure(game, "repair")

    game_module.defender_step, game_module.play, game_module.repair = counted_step, stoppable_play, measured_repair
    before = levels(opened.model.eval(), data, fs.indices, args.classes)
    rows.append({"phase": "original", "step": 0, **before,
                 "probe": round(tamper.probe(opened.model, data, fs.indices, data.splits["val"])["forget_acc"], 2)})
    print(json.dumps(rows[-1]), flush=True)
    cfg = resolve(overrides={"train.device": "cpu"}, sets=args.set)  # dau's defaults, as `dau forget` has them
    cost = operations.unlearn(opened, fs, "dau", cfg, EventSink(), args.seed)
    rows.append({"phase": "end", "step": count["step"], "image_passes": cost["image_passes"],
                 "ta": round(accuracy(opened.model, data, test[data.labels[test].cpu() != args.classes]), 2)})
    print(json.dumps(rows[-1]), flush=True)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
