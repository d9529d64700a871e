"""Group 10: the reference bank is verified, not trusted. A NaN, truncated, foreign or hostile
reference file is named, set aside and trained again; a bank of another recipe under this bank's
folder is never read; no verdict says `forgotten` on tests that had too few references."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from dau_cli.engine.audit import forget_set_for_audit
from dau_cli.engine.bank import OUT_SEED_BASE, BankWarning, bank_for
from dau_cli.engine.checkpoint import restore


def bank_of(ckpt):
    _, data = restore(ckpt)
    fs = forget_set_for_audit(ckpt, data, classes="3")
    return bank_for(ckpt, fs), fs


class Hostile:
    def __reduce__(self):
        return (print, ("a pickle that runs code",))


DAMAGE = {
    "nan": lambda p: torch.save({**torch.load(p, weights_only=True),
                                 "stats": {k: torch.full_like(v, float("nan")) for k, v in
                                           torch.load(p, weights_only=True)["stats"].items()}}, p),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:100]),
    "random bytes": lambda p: p.write_bytes(bytes(range(256)) * 20),
    "hostile pickle": lambda p: p.write_bytes(pickle.dumps(Hostile())),
    "another seed's": lambda p: torch.save({**torch.load(p, weights_only=True), "seed": 7}, p),
    "another forget set's": lambda p: torch.save({**torch.load(p, weights_only=True), "trained_on": 5}, p),
    "another bank's": lambda p: torch.save({**torch.load(p, weights_only=True),
                                            "bank": {"view": "0123456789abcdef", "forget": "x", "kind": "out"}}, p),
    "an older dau's (no bank named)": lambda p: torch.save({k: v for k, v in torch.load(p, weights_only=True).items()
                                                            if k != "bank"}, p),
    "one value changed": lambda p: torch.save(changed_value(torch.load(p, weights_only=True)), p),
}


def changed_value(result):
    """A finite, plausible edit that only the content digest can catch."""
    result["stats"]["loss"][0] += 1.0
    return result


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_bad_reference_file_is_named_set_aside_and_trained_again(micro, damage):
    bank, fs = bank_of(micro)
    bank.ensure(3)
    clean = bank.statistics("out", fs.indices)[1].clone()
    path = bank.path("out", OUT_SEED_BASE + 1)
    DAMAGE[damage](path)

    fresh, _ = bank_of(micro)  # a new audit: nothing cached
    with pytest.warns(BankWarning, match=f"reference file {path} is unusable"):
        seeds, stats = fresh.statistics("out", fs.indices)
    assert seeds == [OUT_SEED_BASE, OUT_SEED_BASE + 2] and torch.isfinite(stats).all()
    assert not path.exists() and len(list(path.parent.glob(f"{path.name}.bad-*"))) == 1  # kept, not deleted

    repaired, _ = bank_of(micro)
    assert sorted(o.status for o in repaired.ensure(3)).count("done") == 1  # --references 3 trains it again
    assert torch.equal(repaired.statistics("out", fs.indices)[1], clean)  # the same reference, bit for bit


def test_a_bank_of_another_recipe_under_this_folder_is_never_read(micro):
    bank, fs = bank_of(micro)
    bank.ensure(3)
    key = json.loads((bank.root / "key.json").read_text())
    key["recipe"]["lr"] = 99.0  # what copying another recipe's bank here looks like
    (bank.root / "key.json").write_text(json.dumps(key))
    fresh, _ = bank_of(micro)
    with pytest.warns(BankWarning, match="names another data view, architecture or recipe"):
        assert fresh.statistics("out", fs.indices)[0] == []
    assert not bank.root.exists() and len(list(bank.root.parent.glob(f"{bank.root.name}.bad-*"))) == 1


def test_too_few_references_never_give_forgotten(micro):
    """The untouched original with --references 2 (a bank holding more): every test uses the same
    2, each says it needs 3, and the verdict is `no reference`, never `forgotten`."""
    from dau_cli.engine.audit_verdict import audit_verdict

    model, data = restore(micro)
    bank, fs = bank_of(micro)
    bank.ensure(4)
    result = audit_verdict(micro, model, data, fs, references=2)
    assert result["verdict"] == "no reference"
    assert all(t.get("status") == "undecided" for t in result["tests"].values()), result["tests"]
    assert result["references"]["out"] == 2 and result["references"]["tamper"] <= 2
    json.dumps(result, allow_nan=False, default=str)  # strict JSON: no NaN or Infinity


def test_a_tampered_tamper_result_is_set_aside_and_computed_again(micro):
    """The relearning results carry their bank and a digest too: an edited accuracy is caught."""
    from dau_cli.engine.verdict import TAMPER_SETTINGS

    bank, fs = bank_of(micro)
    bank.ensure(3)
    clean = bank.tamper_results(TAMPER_SETTINGS, limit=3)
    path = next(iter(bank.out_dir.glob("tamper-*"))) / f"ref-{OUT_SEED_BASE}.pt"
    result = torch.load(path, weights_only=True)
    result["relearn"]["forget_acc"][0] += 0.5
    torch.save(result, path)
    fresh, _ = bank_of(micro)
    with pytest.warns(BankWarning, match="do not match their digest"):
        again = fresh.tamper_results(TAMPER_SETTINGS, limit=3)
    assert again == clean and len(list(path.parent.glob(f"{path.name}.bad-*"))) == 1


@pytest.mark.parametrize("node", ["fifo", "link to /dev/zero"])
def test_a_reference_that_is_not_a_regular_file_is_set_aside_not_read(micro, node):
    """A FIFO would hang the audit and /dev/zero would fill memory: neither is read."""
    import os

    bank, fs = bank_of(micro)
    bank.ensure(3)
    path = bank.path("out", OUT_SEED_BASE + 1)
    path.unlink()
    os.mkfifo(path) if node == "fifo" else path.symlink_to("/dev/zero")
    fresh, _ = bank_of(micro)
    assert fresh.statistics("out", fs.indices)[0] == [OUT_SEED_BASE, OUT_SEED_BASE + 2]  # not listed, not read
    with pytest.warns(BankWarning, match=f"reference file {path} is unusable: it cannot be read"):
        assert sorted(o.status for o in fresh.ensure(3)).count("done") == 1  # set aside, trained again
    assert path.is_file() and not path.is_symlink()
