"""The reference bank: keyed by what determines a reference, topped up, resumed, never rebuilt."""

from __future__ import annotations

import torch

from dau_cli.engine import references as bank_module  # where the job functions live
from dau_cli.engine.audit import forget_set_for_audit
from dau_cli.engine.bank import IN_SEED_BASE, OUT_SEED_BASE, bank_for
from dau_cli.engine.checkpoint import restore


def forget(ckpt, classes="3"):
    _, data = restore(ckpt)
    return forget_set_for_audit(ckpt, data, classes=classes), data


def test_top_up_adds_only_what_is_missing_and_stores_statistics_of_every_sample(micro):
    fs, data = forget(micro)
    bank = bank_for(micro, fs)
    first = bank.ensure(2)
    assert [o.status for o in first] == ["done"] * 4
    assert bank.available("out") == [OUT_SEED_BASE, OUT_SEED_BASE + 1]
    assert bank.available("in") == [IN_SEED_BASE, IN_SEED_BASE + 1]
    before = bank.path("out", OUT_SEED_BASE).stat().st_mtime_ns
    again = bank.ensure(3)
    assert sorted(o.status for o in again) == ["done", "done", "skipped", "skipped", "skipped", "skipped"]
    assert bank.path("out", OUT_SEED_BASE).stat().st_mtime_ns == before  # never rebuilt
    seeds, lsc = bank.statistics("out", fs.indices)
    assert seeds == [OUT_SEED_BASE + i for i in range(3)] and lsc.shape == (3, len(fs.indices))
    _, everything = bank.statistics("in", torch.arange(len(data.labels)))
    assert torch.isfinite(everything).all()  # every image of D_train, D_val and D_test has its statistic
    # OUT references never saw the forget set, IN references did: the class is far likelier under IN.
    _, inn = bank.statistics("in", fs.indices)
    assert inn.mean() > lsc.mean()


def test_in_references_are_shared_across_forget_sets_and_out_references_are_not(micro):
    fs3, _ = forget(micro, "3")
    fs5, _ = forget(micro, "5")
    b3, b5 = bank_for(micro, fs3), bank_for(micro, fs5)
    assert b3.in_dir == b5.in_dir and b3.out_dir != b5.out_dir
    b3.ensure(1)
    assert [o.status for o in b5.ensure(1)] == ["done", "skipped"]


def test_an_interrupted_build_keeps_what_finished(micro, monkeypatch):
    fs, _ = forget(micro, "7")
    bank = bank_for(micro, fs)
    real = bank_module.train_reference

    def dies_on_the_second(**spec):
        if spec["seed"] == OUT_SEED_BASE + 1:
            raise RuntimeError("killed")
        return real(**spec)

    monkeypatch.setattr(bank_module, "train_reference", dies_on_the_second)
    outcomes = bank.ensure(2)
    assert [o.status for o in outcomes].count("failed") == 1
    assert OUT_SEED_BASE in bank.available("out") and OUT_SEED_BASE + 1 not in bank.available("out")
    monkeypatch.setattr(bank_module, "train_reference", real)
    resumed = bank.ensure(2)
    assert [o.status for o in resumed].count("done") == 1  # only the one that died is trained again
    assert len(bank.available("out")) == 2


def test_the_audited_models_own_seed_is_never_a_reference(micro):
    fs, _ = forget(micro, "1")
    ckpt = dict(micro)
    ckpt["lineage"] = [*micro["lineage"], {"op": "forget", "method": "retrain", "seed": OUT_SEED_BASE,
                                           "forget_indices": fs.indices}]
    bank = bank_for(ckpt, fs)
    assert OUT_SEED_BASE not in bank.seeds("out", 3) and len(bank.seeds("out", 3)) == 3
    # A different recipe is a different bank.
    other = dict(micro)
    other["lineage"] = [dict(micro["lineage"][0], config={**micro["lineage"][0]["config"],
                                                          "train": {**micro["lineage"][0]["config"]["train"],
                                                                    "epochs": 2}})]
    assert bank_for(other, fs).root != bank.root


def test_references_trained_as_ray_tasks_equal_those_trained_in_the_process(micro, tmp_path, ray_local):
    """`dau audit --ray`: the bank's jobs go to Ray unchanged, and what comes back is the same."""
    fs, data = forget(micro, "2")
    here, there = bank_for(micro, fs, home=tmp_path / "here"), bank_for(micro, fs, home=tmp_path / "ray")
    assert [o.status for o in here.ensure(1)] == ["done", "done"]
    assert [o.status for o in there.ensure(1, ray="local")] == ["done", "done"]
    everything = torch.arange(len(data.labels))
    for kind in ("out", "in"):
        seeds_a, a = here.statistics(kind, everything)
        seeds_b, b = there.statistics(kind, everything)
        assert seeds_a == seeds_b and torch.equal(a, b)


def pruned(ckpt, seed=0):
    """`ckpt` with half of every prunable weight pruned (random masks, seeded), as `dau prune` stores it."""
    from dau_cli.engine.checkpoint import pack_masks, prunable

    g = torch.Generator().manual_seed(seed)
    masks = {n: torch.rand(t.shape, generator=g) > 0.5 for n, t in ckpt["state_dict"].items() if prunable(n, t)}
    assert masks
    state = {n: (t * masks[n] if n in masks else t) for n, t in ckpt["state_dict"].items()}
    return {**ckpt, "state_dict": state, "masks": pack_masks(masks)}, masks


def test_a_pruned_checkpoint_has_its_own_bank_of_references_retrained_under_its_masks(micro):
    import json

    from dau_cli.engine.bank import recipe_of
    from dau_cli.engine.references import digest as _digest, indices_digest
    from dau_cli.engine.jobs import load_result

    fs, _ = forget(micro, "4")
    dense = bank_for(micro, fs)
    # The dense key is the one banks were always stored under (no masks entry): existing banks stay valid.
    d = micro["data"]
    assert dense.root.name == _digest({"dataset": d["dataset"], "arch": micro["arch"],
                                       "splits": {s: indices_digest(d["splits"][s]) for s in ("train", "val", "test")},
                                       "arch_args": dict(micro["arch_args"]), "recipe": recipe_of(micro)})
    assert "masks" not in dense.spec
    sparse_ckpt, masks = pruned(micro)
    sparse = bank_for(sparse_ckpt, fs)
    assert sparse.root != dense.root and sparse.root.parent == dense.root.parent
    # Same masks, other weights: the same bank; other masks: another one.
    assert bank_for({**sparse_ckpt, "state_dict": micro["state_dict"]}, fs).root == sparse.root
    assert bank_for(pruned(micro, seed=1)[0], fs).root != sparse.root
    assert [o.status for o in sparse.ensure(1)] == ["done", "done"]
    assert json.loads(json.dumps(sparse.reference_jobs(1)[0].spec))["masks"] == str(sparse.root / "masks.pt")
    assert json.loads((sparse.root / "key.json").read_text())["masks"]
    weights = load_result(sparse.path("out", OUT_SEED_BASE))["state_dict"]
    for n, m in masks.items():
        assert (weights[n][~m] == 0).all(), f"pruned weights of {n} were trained"
        assert (weights[n][m] != 0).any(), f"{n} was not trained at all"


def test_the_tamper_tests_of_a_pruned_model_and_its_references_keep_pruned_weights_zero(micro, tamper_steppers):
    from dau_cli.engine.checkpoint import restore_model
    from dau_cli.engine.audit_verdict import audit_verdict

    sparse_ckpt, masks = pruned(micro, seed=2)
    fs, data = forget(sparse_ckpt, "6")
    steppers = tamper_steppers
    result = audit_verdict(sparse_ckpt, restore_model(sparse_ckpt), data, fs, references=1)
    assert result["references"]["bank"] == str(bank_for(sparse_ckpt, fs).root)
    assert len(steppers) == 2  # the audited model's relearning and the one OUT reference's
    for stepper in steppers:
        assert stepper.count > 0
        tuned = dict(stepper.model.named_parameters())
        for n, m in masks.items():
            assert (tuned[n][~m] == 0).all(), f"relearning brought pruned weights of {n} back"
