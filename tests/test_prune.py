"""`dau prune` (docs/pruning.md): exact sparsity, masks that hold through every step, each method
reaches its target, masks compose, rewinding reproduces the original run, one-line errors.

Fixtures for other test files: `pruned_ckpt` (session; a 50 %-sparse OMP checkpoint of conftest's
`tiny_ckpt`, read-only) and `assert_masks_hold(ckpt_dict)`, which fails if any pruned weight of a
checkpoint is not exactly 0, e.g. after `forget` on `pruned_ckpt`.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from dau_cli.engine.checkpoint import derive, load_checkpoint, prunable, restore, save_checkpoint, unpack_masks
from dau_cli.engine.prune import (PRUNERS, PruneConfig, PruneJob, check_prune, global_mask, imp_schedule,
                                  masked_nonzero, masks_for, prune_checkpoint, recorded_config, retrain_config,
                                  synflow_masks)
from dau_cli.engine.train import Stepper, fit, sgd
from dau_cli.errors import DauError
from dau_cli.runs import EventSink

QUICK = 1  # retraining epochs in tests: the checks are about masks and counts, not accuracy


def prune_engine(ckpt: dict, method: str, s: float, **kw) -> tuple[dict, dict]:
    pc = PruneConfig(method, s, **kw)
    return prune_checkpoint(ckpt, pc, retrain_config(ckpt, QUICK if pc.retrain else None, "cpu"), EventSink())


def zeros_and_total(state_dict: dict) -> tuple[int, int]:
    ws = [t for n, t in state_dict.items() if prunable(n, t)]
    return sum(int((t == 0).sum()) for t in ws), sum(t.numel() for t in ws)


def assert_masks_hold(ckpt: dict) -> None:
    """Every weight the checkpoint's masks prune is exactly 0 (and there are masks to check)."""
    masks = unpack_masks(ckpt["masks"])
    assert masks and any((~m).any() for m in masks.values()), "no pruned weights to check"
    assert masked_nonzero(ckpt["state_dict"], masks) == {n: 0 for n in masks}


@pytest.fixture(scope="session")
def pruned_ckpt(tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conftest's tiny model pruned to 50 % by OMP with one retraining epoch."""
    pruned, _ = prune_engine(load_checkpoint(tiny_ckpt), "omp", 0.5)
    return save_checkpoint(pruned, tmp_path_factory.mktemp("pruned") / "tiny-omp50.pt")


@pytest.fixture
def tiny_copy(tiny_ckpt: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(tiny_ckpt, tmp_path / "tiny.pt"))


# ----------------------------------------------------------------------------- masks


def test_global_mask_keeps_exactly_the_top_scores_and_never_revives_a_pruned_weight():
    torch.manual_seed(0)
    scores = {"a": torch.rand(4, 5), "b": torch.rand(30, 2)}
    masks = {"a": torch.ones(4, 5, dtype=torch.bool), "b": torch.rand(30, 2) > 0.3}
    masks["b"][0, 0] = False
    scores["b"][0, 0] = 10.0  # the best score of all, but already pruned
    out = global_mask(scores, masks, 37)
    assert sum(int(m.sum()) for m in out.values()) == 37
    assert not out["b"][0, 0]
    assert not (out["b"] & ~masks["b"]).any()
    kept = torch.cat([scores[n][out[n]] for n in out])
    dropped = torch.cat([scores[n][masks[n] & ~out[n]] for n in out])
    assert kept.min() >= dropped.max()  # one global threshold


def test_global_mask_count_is_exact_under_ties():
    scores = {"w": torch.zeros(10, 10)}  # every score tied
    out = global_mask(scores, {"w": torch.ones(10, 10, dtype=torch.bool)}, 33)
    assert int(out["w"].sum()) == 33


def test_reported_sparsity_is_the_count_of_zeros_and_the_run_is_recorded(tiny_copy, dau):
    r = dau("prune", tiny_copy, "--method", "omp", "--sparsity", "0.6", "--retrain-epochs", "1", "--device", "cpu",
            "--json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    for key in ("checkpoint", "sparsity", "test_acc_before", "test_acc_after", "run_dir", "wall_time_s",
                "sparsity_by_layer", "image_passes"):
        assert key in report
    out = load_checkpoint(report["checkpoint"])
    zeros, total = zeros_and_total(out["state_dict"])
    assert report["sparsity"] == zeros / total
    assert zeros == round(0.6 * total)
    for name, frac in report["sparsity_by_layer"].items():
        w = out["state_dict"][name]
        assert frac == int((w == 0).sum()) / w.numel()
    assert_masks_hold(out)
    assert report["test_acc_before"] == load_checkpoint(tiny_copy)["metrics"]["test_acc"]
    assert report["test_acc_after"] == out["metrics"]["test_acc"]
    entry = out["lineage"][-1]
    assert entry["op"] == "prune" and entry["method"] == "omp" and entry["target_sparsity"] == 0.6
    assert entry["sparsity"] == report["sparsity"] and entry["config"]["train"]["epochs"] == 1
    assert entry["image_passes"] == len(out["data"]["splits"]["train"])  # one retraining epoch
    run = json.loads((Path(report["run_dir"]) / "run.json").read_text())
    assert run["command"] == "prune" and run["status"] == "completed"
    events = [json.loads(line) for line in (Path(report["run_dir"]) / "events.jsonl").read_text().splitlines()]
    assert any(e["type"] == "step" and e["phase"] == "retrain" for e in events)


def test_masked_weights_stay_zero_through_fit_and_large_steps(pruned_ckpt):
    ckpt = load_checkpoint(pruned_ckpt)
    masks = unpack_masks(ckpt["masks"])
    model, data = restore(ckpt)
    cfg = retrain_config(ckpt, 1, "cpu", ["train.lr=0.5"])["train"]
    fit(model, data, data.splits["train"][:300], cfg, EventSink(), masks=masks)
    state = model.state_dict()
    assert masked_nonzero(state, masks) == {n: 0 for n in masks}

    # Steps so large that every weight would move a lot, momentum and weight decay included.
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    stepper = Stepper(model, sgd(model.parameters(), lr=50.0, momentum=0.9, weight_decay=0.1), masks)
    x = data.images[data.splits["train"][:64]].float() / 255
    y = data.labels[data.splits["train"][:64]]
    for _ in range(3):
        stepper.step(torch.nn.functional.cross_entropy(model(x), y) + 1e-3 * sum(p.sum() for p in model.parameters()))
    state = model.state_dict()
    assert masked_nonzero(state, masks) == {n: 0 for n in masks}
    for n, m in masks.items():  # the kept weights did move, so the masks are what held the others
        assert not torch.equal(state[n][m], before[n][m])


@pytest.mark.parametrize("method", sorted(PRUNERS))
def test_every_method_reaches_the_target_sparsity(tiny_ckpt, method):
    ckpt = load_checkpoint(tiny_ckpt)
    kw = {"rounds": 2} if method == "imp" else {"rounds": 10} if method == "synflow" else {}
    out, summary = prune_engine(ckpt, method, 0.8, **kw)
    zeros, total = zeros_and_total(out["state_dict"])
    assert zeros == round(0.8 * total)
    assert summary["sparsity"] == zeros / total
    assert math.isclose(summary["sparsity"], 0.8, abs_tol=1 / total)
    assert_masks_hold(out)
    assert out["lineage"][-1]["method"] == method


def test_pruning_a_pruned_checkpoint_composes_masks(pruned_ckpt):
    first = load_checkpoint(pruned_ckpt)
    second, summary = prune_engine(first, "omp", 0.75)
    m1, m2 = unpack_masks(first["masks"]), unpack_masks(second["masks"])
    assert set(m1) == set(m2)
    for n in m1:
        assert not (m2[n] & ~m1[n]).any()  # nothing pruned before is kept now
    assert summary["sparsity_before"] == pytest.approx(0.5, abs=1e-3)
    assert zeros_and_total(second["state_dict"])[0] == round(0.75 * zeros_and_total(second["state_dict"])[1])
    assert [e["op"] for e in second["lineage"]] == ["train", "prune", "prune"]


def test_no_retrain_only_zeroes_the_smallest_weights(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    out, summary = prune_engine(ckpt, "omp", 0.3, retrain=False)
    masks = unpack_masks(out["masks"])
    for n, m in masks.items():
        assert torch.equal(out["state_dict"][n][m], ckpt["state_dict"][n][m])  # survivors untouched
    assert summary["image_passes"] == 0


# ----------------------------------------------------------------------------- rewinding and synflow


def test_rewinding_reproduces_the_original_run(tiny_ckpt):
    """The rewind point at the last recorded epoch is the trained checkpoint itself; at 0, its init."""
    ckpt = load_checkpoint(tiny_ckpt)
    epochs = recorded_config(ckpt)["train"]["epochs"]
    model, data = restore(ckpt)
    config = retrain_config(ckpt, None, "cpu")
    for epoch, expect_trained in ((epochs, True), (0, False)):
        job = PruneJob(ckpt, data, torch.device("cpu"), PruneConfig("omp", 0.5, rewind_epoch=epoch), config["train"],
                       config["train"], EventSink(), data.splits["train"])
        state = job.rewind_state()
        same = all(torch.allclose(state[k].float(), v.float(), atol=1e-6) for k, v in ckpt["state_dict"].items())
        assert same == expect_trained
    init = job.initial_model().state_dict()
    assert all(torch.equal(state[k], init[k]) for k in init)


def test_rewound_imp_trains_from_the_rewind_point(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    out, summary = prune_engine(ckpt, "imp", 0.5, rounds=2, rewind_epoch=1)
    n_train = len(ckpt["data"]["splits"]["train"])
    assert summary["image_passes"] == n_train * (1 + 2 * QUICK)  # reproduce 1 epoch, then 2 rounds of 1
    assert_masks_hold(out)


def test_synflow_scores_without_data_and_leaves_the_model_untouched(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    masks = masks_for(ckpt, model)
    total = sum(m.numel() for m in masks.values())
    out = synflow_masks(model, masks, total // 10, 20, tuple(data.input_shape), EventSink())
    assert sum(int(m.sum()) for m in out.values()) == total // 10
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN statistics included
    assert all(m.any() for m in out.values())  # iterative SynFlow keeps every layer alive


def test_imp_schedule_decays_geometrically_to_the_exact_target():
    steps = imp_schedule(1000, 1000, 100, None, 0.2)
    assert len(steps) == 11 and steps[0] == 800 and steps[-1] == 100
    assert all(a > b for a, b in zip(steps, steps[1:]))
    assert imp_schedule(1000, 500, 100, 4, None)[-1] == 100 and len(imp_schedule(1000, 500, 100, 4, None)) == 4


def test_retraining_never_uses_forgotten_samples(tiny_ckpt, monkeypatch):
    ckpt = load_checkpoint(tiny_ckpt)
    model, _ = restore(ckpt)
    forget = ckpt["data"]["splits"]["train"][:50]
    unlearned = derive(ckpt, model, {"op": "forget", "forget_indices": forget}, ckpt["metrics"])
    with pytest.raises(DauError, match="bring it back"):
        check_prune(unlearned, PruneConfig("omp", 0.5, rewind_epoch=1))
    seen = []
    monkeypatch.setattr(PruneJob, "retrain", lambda self, m, masks, phase: seen.append(self.train_idx))
    prune_engine(unlearned, "omp", 0.5)
    assert len(seen) == 1 and not torch.isin(seen[0], forget).any()
    assert len(seen[0]) == len(ckpt["data"]["splits"]["train"]) - 50


# ----------------------------------------------------------------------------- the command and its errors


def test_default_output_sits_beside_the_input_and_the_input_is_untouched(tiny_copy, dau):
    original = tiny_copy.read_bytes()
    r = dau("prune", tiny_copy, "-s", "0.5", "--no-retrain", "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    assert (tiny_copy.parent / "tiny-omp50.pt").is_file()
    assert tiny_copy.read_bytes() == original
    assert "all prunable" in r.stdout and "50.00" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["-s", "1.0"], "--sparsity must be in [0, 1)"),
    (["-s", "-0.1"], "--sparsity must be in [0, 1)"),
    (["-s", "90"], "for 90 % write 0.9"),
    (["-s", "0.5", "-m", "random"], "unknown pruning method 'random'; choose one of omp, imp, synflow"),
    (["-s", "0.5", "-m", "imp", "--rounds", "3", "--rate", "0.2"], "not both"),
    (["-s", "0.5", "-m", "imp", "--no-retrain"], "imp retrains between rounds"),
    (["-s", "0.5", "-m", "synflow", "--rewind-epoch", "0"], "synflow prunes at initialisation"),
    (["-s", "0.5", "--rewind-epoch", "99"], "--rewind-epoch must be between 0"),
    (["-s", "0.5", "--rate", "0.2"], "--rate applies to --method imp only"),
])
def test_user_errors_are_one_line_with_exit_2(tiny_copy, dau, args, message):
    r = dau("prune", tiny_copy, *args)
    assert r.exit_code == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not list(tiny_copy.parent.glob("tiny-*.pt"))


def test_refuses_a_checkpoint_already_sparser_than_asked(pruned_ckpt, dau):
    r = dau("prune", pruned_ckpt, "-s", "0.3", "-o", pruned_ckpt.parent / "x.pt")
    assert r.exit_code == 2 and "already 50.00 % sparse" in r.stderr


def test_never_overwrites_the_input(tiny_copy, dau):
    original = tiny_copy.read_bytes()
    r = dau("prune", tiny_copy, "-s", "0.5", "-o", tiny_copy, "--force")
    assert r.exit_code == 2 and "refusing to overwrite the input" in r.stderr
    assert tiny_copy.read_bytes() == original
