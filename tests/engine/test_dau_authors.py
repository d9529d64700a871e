"""The authors' DAU (`--method dau-authors`): the attacker's input, its gradients, stop_iter, the cache,
and its settings, a section of their own."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from dau_cli.config import SECTIONS, as_dict, read_recipe, resolve
from dau_cli.engine.checkpoint import load_checkpoint, restore
from dau_cli.engine.forget import unlearn
from dau_cli.engine.forget_sets import select_forget_set
from dau_cli.engine.unlearn.attacker import TokenAttacker, membership_targets, view
from dau_cli.runs import EventSink

FAST = ["dau-authors.steps=4", "dau-authors.attacker_warmup=3", "dau-authors.noise_copies=2",
        "dau-authors.forget_batch=32"]


def setup(tiny_ckpt, **forget):
    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt, "cpu")
    fs = select_forget_set(data.labels, data.splits["train"], num_classes=data.num_classes, **(forget or {"classes": "3"}))
    return ckpt, model, data, fs


def run(tiny_ckpt, sets, **forget):
    ckpt, model, data, fs = setup(tiny_ckpt, **forget)
    events: list[dict] = []
    sink = EventSink()
    sink.listeners.append(events.append)
    cost = unlearn(ckpt, model, data, fs, "dau-authors", resolve(sets=FAST + sets), sink)
    return cost, events, model


def test_attacker_input_is_the_finite_difference_definition(tiny_ckpt):
    _, model, data, fs = setup(tiny_ckpt)
    model.eval()
    idx = fs.indices[:6]
    x, y = data.images[idx].float() / 255, data.labels[idx]
    sigma, m, c = 1e-3, 4, data.num_classes
    noise = torch.randn(m * len(idx), *x.shape[1:], generator=torch.Generator().manual_seed(1))
    _, logits, inp = view(model, x, y, c, sigma, m, noise=noise)
    with torch.no_grad():  # independently: one noisy copy at a time
        clean = model(x)
        expected = torch.stack([(model(x + sigma * noise[k * len(x):(k + 1) * len(x)]) - clean).abs()
                                for k in range(m)]).mean(0) / sigma
    assert inp.shape == (len(idx), 3 * c)
    assert torch.allclose(inp[:, :c], clean, atol=1e-5)
    assert torch.equal(inp[:, c:2 * c], F.one_hot(y, c).float())
    assert torch.allclose(inp[:, 2 * c:], expected, rtol=1e-3, atol=1e-2)
    assert expected.abs().sum() > 0  # the noise does move the logits


def test_defender_gradients_flow_through_logits_and_sensitivities(tiny_ckpt):
    _, model, data, fs = setup(tiny_ckpt)
    model.eval()
    idx = fs.indices[:8]
    x, y = data.images[idx].float() / 255, data.labels[idx]
    c = data.num_classes
    torch.manual_seed(0)
    attacker = TokenAttacker(c).eval()
    params = [p for p in model.parameters() if p.requires_grad]

    def grads(detach: slice | None) -> torch.Tensor:
        torch.manual_seed(0)  # the same noise every time
        _, _, inp = view(model, x, y, c, 1e-3, 3)
        if detach is not None:
            inp = torch.cat([inp[:, :detach.start], inp[:, detach].detach(), inp[:, detach.stop:]], dim=1)
        loss = F.cross_entropy(attacker(inp), membership_targets(len(idx), 0, "cpu", reverse=True))
        return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params, allow_unused=False)])

    full = grads(None)
    no_logits = grads(slice(0, c))
    no_sens = grads(slice(2 * c, 3 * c))
    assert full.abs().sum() > 0
    # each route carries part of the gradient: cutting either one changes it
    assert not torch.allclose(full, no_logits) and not torch.allclose(full, no_sens)
    assert (full - no_sens).abs().sum() > 0 and (full - no_logits).abs().sum() > 0


def test_stop_iter_switches_the_adversarial_terms_off(tiny_ckpt):
    _, events, _ = run(tiny_ckpt, ["dau-authors.stop_iter=2", "dau-authors.steps=5"])
    steps = [e for e in events if e["type"] == "step" and e["phase"] == "dau"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4, 5]
    for e in steps:
        adversarial = {"adv", "bt", "attacker_loss", "attacker_acc"} <= set(e)
        assert adversarial == (e["step"] <= 2), e
        if not adversarial:
            assert e["defender_loss"] == e["ce"]
    assert any("stop_iter 2 reached" in e.get("message", "") for e in events if e["type"] == "log")


def test_random_forgetting_stays_adversarial_throughout(tiny_ckpt):
    _, events, _ = run(tiny_ckpt, ["dau-authors.stop_iter=1", "dau-authors.steps=3"], random=0.1)
    steps = [e for e in events if e["type"] == "step" and e["phase"] == "dau"]
    assert len(steps) == 3 and all("adv" in e for e in steps)


def test_a_second_forget_reuses_the_cached_attacker(tiny_ckpt, dau_home):
    first, ev1, _ = run(tiny_ckpt, [])
    cached = list((dau_home / "cache" / "attackers").glob("*.pt"))
    assert len(cached) == 1 and not list(cached[0].parent.glob(".*tmp"))
    assert first["pretrain_s"] > 0
    assert any(e["type"] == "step" and e["phase"] == "attacker pre-training" for e in ev1)
    second, ev2, _ = run(tiny_ckpt, ["dau-authors.stop_iter=1"])  # a defender setting: same attacker
    assert "pretrain_s" not in second
    assert not any(e["type"] == "step" and e["phase"] == "attacker pre-training" for e in ev2)
    assert any("loaded from the cache" in e.get("message", "") for e in ev2 if e["type"] == "log")
    # an attacker setting is part of the key: pre-training again, a second file
    third, _, _ = run(tiny_ckpt, ["dau-authors.sigma=0.01"])
    assert third["pretrain_s"] > 0
    assert len(list((dau_home / "cache" / "attackers").glob("*.pt"))) == 2


def test_the_recipe_spells_out_the_sections_defaults():
    recipe = as_dict(resolve(recipe="dau-authors"))
    section = as_dict(resolve())["dau-authors"]
    assert recipe["dau-authors"] == section and recipe["dau"] == as_dict(resolve())["dau"]
    assert (section["alpha"], section["beta"], section["stop_iter"], section["sigma"], section["noise_copies"],
            section["attacker_warmup"]) == (0.9, 0.001, 30, 1e-3, 10, 1000)
    assert set(read_recipe("dau-authors")) == {"dau-authors"}


def test_the_two_dau_sections_are_independent():
    """Neither section inherits the other, and a setting of one leaves the other, and so a compare
    cell of the other method, as it was."""
    from dau_cli.config import DauAuthorsConfig, DauConfig
    from dau_cli.engine.compare import cell_key

    assert not issubclass(DauAuthorsConfig, DauConfig) and not issubclass(DauConfig, DauAuthorsConfig)
    default = as_dict(resolve())
    # every key of each section, changed: the other section stays at its defaults
    for section, other in (("dau", "dau-authors"), ("dau-authors", "dau")):
        changed = as_dict(resolve(sets=[_changed(section, f) for f in dataclasses.fields(SECTIONS[section])]))
        assert changed[other] == default[other]
        assert all(changed[section][k] != v for k, v in default[section].items()), section
    key = {"label": "dense", "checkpoint_digest": "c", "forget_spec": {"classes": "3"}, "method": "dau-authors", "seed": 0}
    before = cell_key(**key, method_cfg=default["dau-authors"])
    after = cell_key(**key, method_cfg=as_dict(resolve(sets=["dau.alpha=0.5", "dau.guard_radius=2"]))["dau-authors"])
    assert before == after


def _changed(section: str, f: dataclasses.Field) -> str:
    """`section.key=value` with a valid value other than the default."""
    default = f.default
    if "choices" in f.metadata:
        value = next(c for c in f.metadata["choices"] if c != default)
    elif isinstance(default, int):
        value = default + 1
    else:
        value = default / 2 if default > 0 else 0.5
    return f"{section}.{f.name}={value}"


class Reading:
    """A section that records which of its keys are read."""

    def __init__(self, section):
        self.section, self.read = section, set()

    def __getattr__(self, name):
        self.read.add(name)
        return getattr(self.section, name)


@pytest.mark.parametrize("method, sets", [
    ("dau", ["dau.epochs=1", "dau.sample_epochs=1", "dau.attacker_warmup=2", "dau.forget_batch=32",
             "dau.repair_steps=2", "dau.forgotten_acc=100"]),
    ("dau-authors", [*FAST, "dau-authors.stop_iter=2"]),
])
def test_each_method_reads_every_key_of_its_section(tiny_ckpt, method, sets):
    """A section holds only keys its method reads (class and random forgetting together), so no
    setting is accepted and then ignored."""
    config = resolve(sets=sets)
    reading = Reading(config[method])
    for forget in ({"classes": "3"}, {"random": 0.1}):
        ckpt, model, data, fs = setup(tiny_ckpt, **forget)
        unlearn(ckpt, model, data, fs, method, {**config, method: reading}, EventSink())
    assert reading.read == {f.name for f in dataclasses.fields(SECTIONS[method])}


def test_a_forget_from_the_cache_equals_the_one_that_filled_it(tiny_ckpt, dau_home):
    # the cache saves time, not a different result: the same seed gives the same model either way
    first, _, model1 = run(tiny_ckpt, [])
    second, _, model2 = run(tiny_ckpt, [])
    assert first["pretrain_s"] > 0 and "pretrain_s" not in second
    for (name, a), b in zip(model1.state_dict().items(), model2.state_dict().values()):
        assert torch.equal(a, b), name
