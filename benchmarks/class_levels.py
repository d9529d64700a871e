"""How surely a model answers "is this a k?" for the forgotten class k (docs/decisions.md, 2026-12-03).

For each checkpoint: the mean logit-scaled confidence in class k over the training images of k (`D_f` in
class forgetting) and over the validation images of the other classes. A model retrained without k
answers both about alike; a model that learned k is far more sure on its images.

    python benchmarks/class_levels.py --class 7 work/models/class-dau-o0-s0.pt work/models/class-retrain-o0-s0.pt
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--class", dest="k", type=int, required=True)
    args = p.parse_args()
    from dau_cli.engine import operations
    from dau_cli.engine.stats import sample_stats
    from dau_cli.engine.train import predict

    data = None
    print(f"{'checkpoint':50s} {'images of k':>12s} {'others (val)':>13s}")
    for path in args.checkpoints:
        opened = operations.open_checkpoint(path, "cpu", data=data)
        data = opened.data
        labels = data.labels.cpu()
        train, val = data.splits["train"].cpu(), data.splits["val"].cpu()
        levels = []
        for idx in (train[labels[train] == args.k], val[labels[val] != args.k]):
            logits = predict(opened.model, data, idx)
            k = torch.full((len(idx),), args.k, device=logits.device)
            levels.append(sample_stats(logits, k)["logit_scaled_confidence"].mean().item())
        print(f"{path[-50:]:50s} {levels[0]:12.2f} {levels[1]:13.2f}")


if __name__ == "__main__":
    main()
