"""The audit engine: AUC and ROC against scikit-learn, MIA-Efficacy against an independent SVC,
the attacks on known members and non-members, the forget set's origin, and the comparison."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.svm import SVC

from dau_cli.engine.audit import ATTACK_STATISTICS, audit, avg_gap, check_reference, compare_reports, forget_set_for_audit
from dau_cli.engine.mia import UNSTABLE_WIDTH, bootstrap_weights, interval, mia_efficacy
from dau_cli.engine.roc import attack, auc, roc
from dau_cli.engine.checkpoint import load_checkpoint, restore
from dau_cli.engine.data import Data
from dau_cli.engine.forget_sets import ForgetSet
from dau_cli.engine.stats import MEMBER_SIGN, sample_stats
from dau_cli.errors import DauError
from dau_cli.runs import EventSink


class Recorder(EventSink):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []
        self.listeners.append(self.events.append)


@pytest.fixture(scope="module")
def tiny(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt)
    return ckpt, model, data


@pytest.fixture(scope="module")
def overfit():
    """A cnn that memorised 100 random-labelled digits (no augmentation, no weight decay): those
    100 are members, every other image a non-member whose (random) label it cannot know."""
    from dau_cli.config import TrainConfig
    from dau_cli.engine.data import load_data
    from dau_cli.engine.models import build_model
    from dau_cli.engine.train import fit

    digits = load_data("digits")
    labels = torch.randint(0, 10, (len(digits.labels),), generator=torch.Generator().manual_seed(0))
    data = Data(digits.name, digits.root, digits.images, labels, digits.splits, digits.class_names)
    members = digits.splits["train"][:100].sort().values
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 80 tiny steps: a second thread only adds overhead, and thrashes on a busy machine
    model = build_model("cnn", 10, data.input_shape, width=16)
    cfg = TrainConfig(epochs=80, batch_size=100, lr=0.2, weight_decay=0.0, crop_pad=0, device="cpu")  # 80 steps
    try:
        fit(model, data, members, cfg, EventSink())
    finally:
        torch.set_num_threads(threads)
    return model, data, members


# ----------------------------------------------------------------------------- AUC and ROC


def test_auc_matches_sklearn_with_and_without_ties():
    rng = np.random.default_rng(0)
    for pos, neg in ((rng.normal(0.3, 1, 700), rng.normal(0, 1, 500)),  # continuous
                     (rng.integers(0, 12, 300).astype(float), rng.integers(0, 10, 400).astype(float))):  # many ties
        expected = roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg])
        assert auc(torch.tensor(pos), torch.tensor(neg)) == pytest.approx(expected, abs=1e-12)


def test_auc_orientation_and_edge_cases():
    assert auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0  # larger score = positive
    assert auc(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])) == 0.0
    assert auc(torch.tensor([1.0, 1.0]), torch.tensor([1.0])) == 0.5  # ties count 1/2
    assert np.isnan(auc(torch.tensor([]), torch.tensor([1.0])))


def test_attack_metrics_match_sklearn_roc():
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(0.5, 1, 3000), rng.normal(0, 1, 5000)
    y, s = np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg]
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    result = attack(torch.tensor(pos), torch.tensor(neg))
    assert result["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert result["balanced_accuracy"] == pytest.approx(((1 + tpr - fpr) / 2).max(), abs=1e-12)
    for f in ("0.001", "0.01", "0.1"):
        assert result["tpr_at_fpr"][f] == pytest.approx(tpr[fpr <= float(f)].max(), abs=1e-12)
    # kept points: at most 200, real ROC points, from (0, 0) to (1, 1), and the low-FPR region is there
    kept = list(zip(result["fpr"], result["tpr"]))
    assert len(kept) <= 200
    assert kept[0] == (0.0, 0.0) and kept[-1] == (1.0, 1.0)
    full = {(round(a, 12), round(b, 12)) for a, b in zip(fpr, tpr)}
    assert all((round(a, 12), round(b, 12)) in full for a, b in kept)
    assert np.all(np.diff(result["fpr"]) >= 0) and np.all(np.diff(result["tpr"]) >= 0)
    assert sum(0 < f <= 0.001 for f in result["fpr"]) >= 3
    assert sum(0.001 < f <= 0.01 for f in result["fpr"]) >= 10


def test_roc_keeps_small_curves_whole_and_reports_auc():
    pos, neg = torch.tensor([0.9, 0.8, 0.3]), torch.tensor([0.7, 0.2])
    r = roc(pos, neg)
    assert r["fpr"] == [0.0, 0.0, 0.0, 0.5, 0.5, 1.0]
    assert r["tpr"] == pytest.approx([0.0, 1 / 3, 2 / 3, 2 / 3, 1.0, 1.0])
    assert r["auc"] == pytest.approx(5 / 6)


def test_disjoint_non_members_give_chance_auc(tiny):
    from dau_cli.engine.train import predict

    _, model, data = tiny
    val, test = data.splits["val"], data.splits["test"]
    s_val = sample_stats(predict(model, data, val), data.labels[val])
    s_test = sample_stats(predict(model, data, test), data.labels[test])
    for name in ATTACK_STATISTICS:
        a = auc(MEMBER_SIGN[name] * s_val[name], MEMBER_SIGN[name] * s_test[name])
        assert abs(a - 0.5) < 0.1, (name, a)
    g = torch.Generator().manual_seed(0)
    assert abs(auc(torch.randn(4000, generator=g), torch.randn(4000, generator=g)) - 0.5) < 0.03


# ----------------------------------------------------------------------------- attacks on known members


def test_overfit_members_are_detected_and_non_members_are_not(overfit):
    model, data, members = overfit
    report = audit(model, data, ForgetSet("indices", members))
    assert report["ua"] < 10  # memorised: its random labels are right
    forget_vs_val, retain_vs_test = report["attacks"]["forget_vs_val"], report["attacks"]["retain_vs_test"]
    assert set(forget_vs_val) == set(ATTACK_STATISTICS)
    for name in ATTACK_STATISTICS:  # members are found, whatever the statistic: orientation is right
        assert forget_vs_val[name]["auc"] > 0.7, name
        assert forget_vs_val[name]["balanced_accuracy"] > 0.6, name
        # D_r and D_test were both never trained on: two sets of non-members
        assert abs(retain_vs_test[name]["auc"] - 0.5) < 0.1, name
    assert forget_vs_val["confidence"]["tpr_at_fpr"]["0.1"] > 0.3
    assert report["over_forgetting"] is False
    # The MIA SVC's members (D_r) and non-members (D_test) were both never trained on: it has
    # nothing to learn, so where its boundary falls is chance, and the bootstrap says so.
    assert "confidence" in report["mia_efficacy_unstable"]
    lo, hi = report["mia_efficacy_interval"]["confidence"]
    assert hi - lo > 50
    assert report["warnings"] and all(w.startswith("unstable MIA-Efficacy") for w in report["warnings"])


def test_over_forgetting_is_flagged(overfit):
    """Querying the memorised images under the label the model finds least likely makes D_f look
    less like training data than unseen images do: the signature of over-forgetting."""
    from dau_cli.engine.train import predict

    model, data, members = overfit
    labels = data.labels.clone()
    labels[members] = predict(model, data, members).argmin(1)
    shifted = Data(data.name, data.root, data.images, labels, data.splits, data.class_names)
    report = audit(model, shifted, ForgetSet("indices", members))
    assert report["attacks"]["forget_vs_val"]["confidence"]["auc"] < 0.2
    assert report["over_forgetting"] is True
    assert any("over-forgetting" in w for w in report["warnings"])


# ----------------------------------------------------------------------------- MIA-Efficacy and accuracies


def _independent_logits(model, data, idx):
    model.eval()
    with torch.no_grad():
        return model(data.images[idx].float() / 255.0)


@pytest.mark.parametrize("mode", ["class", "random"])
def test_mia_efficacy_and_accuracies_match_an_independent_computation(tiny, mode):
    ckpt, model, data = tiny
    forget = forget_set_for_audit(ckpt, data, classes="3") if mode == "class" else \
        forget_set_for_audit(ckpt, data, random=0.1, seed=1)
    report = audit(model, data, forget)

    labels = data.labels.numpy()
    train, test = data.splits["train"].numpy(), data.splits["test"].numpy()
    forget_idx = np.sort(forget.indices.numpy())
    retain_idx = train[~np.isin(train, forget_idx)]
    if mode == "class":
        assert set(labels[forget_idx]) == {3} and len(forget_idx) == (labels[train] == 3).sum()
        test_used = test[labels[test] != 3]
    else:
        test_used = test
    members = retain_idx[:len(test_used)]
    stats = {name: sample_stats(_independent_logits(model, data, torch.from_numpy(idx)),
                                torch.from_numpy(labels[idx]))
             for name, idx in (("forget", forget_idx), ("members", members), ("non_members", test_used),
                               ("retain", retain_idx), ("test", test))}
    for s in ATTACK_STATISTICS:
        x = np.r_[stats["members"][s].numpy(), stats["non_members"][s].numpy()][:, None]
        y = np.r_[np.ones(len(members)), np.zeros(len(test_used))]
        svc = SVC(C=3, kernel="rbf", gamma="auto").fit(x, y)
        expected = 100 * (svc.predict(stats["forget"][s].numpy()[:, None]) == 0).mean()
        assert report["mia_efficacy_by_statistic"][s] == pytest.approx(expected, abs=1e-9), s
    assert report["mia_efficacy"] == report["mia_efficacy_by_statistic"]["confidence"]
    # the interval: the same SVC refitted on 20 seeded resamples, each point weighted by how often it
    # was drawn (the same problem as duplicating it; libsvm stops at a tolerance, so the two ways can
    # differ on a borderline point, as scikit-learn 1.9 showed: weights here, as in the audit)
    assert report["mia_bootstrap"]["resamples"] == 20 and report["mia_bootstrap"]["level"] == 0.95
    x_m, x_n = stats["members"]["confidence"].numpy(), stats["non_members"]["confidence"].numpy()
    refits = []
    for w_m, w_n in bootstrap_weights(len(x_m), len(x_n), 20):
        w = np.r_[w_m, w_n].astype(np.float64)
        x, y = np.r_[x_m, x_n][:, None].astype(np.float64), np.r_[np.ones(len(x_m)), np.zeros(len(x_n))]
        svc = SVC(C=3, kernel="rbf", gamma="auto").fit(x[w > 0], y[w > 0], sample_weight=w[w > 0])
        refits.append(100 * (svc.predict(stats["forget"]["confidence"].numpy()[:, None]) == 0).mean())
    assert report["mia_efficacy_interval"]["confidence"] == pytest.approx(list(np.percentile(refits, [2.5, 97.5])))
    assert set(report["mia_efficacy_interval"]) == set(ATTACK_STATISTICS)
    assert report["mia_efficacy_unstable"] == [s for s, (lo, hi) in report["mia_efficacy_interval"].items()
                                               if hi - lo > UNSTABLE_WIDTH]

    def acc(name):
        return 100 * stats[name]["correct"].mean().item()

    assert report["ua"] == pytest.approx(100 - acc("forget"), abs=1e-4)
    assert report["ra"] == pytest.approx(acc("retain"), abs=1e-4)
    assert report["ta"] == pytest.approx(acc("non_members"), abs=1e-4)
    if mode == "class":
        forgotten_test = test[labels[test] == 3]
        correct = (_independent_logits(model, data, torch.from_numpy(forgotten_test)).argmax(1).numpy()
                   == labels[forgotten_test])
        assert report["forgotten_test_acc"] == pytest.approx(100 * correct.mean(), abs=1e-4)
        # the class-mode negatives are every unseen image of the forgotten class: validation and test
        unseen = np.r_[data.splits["val"].numpy()[labels[data.splits["val"].numpy()] == 3], forgotten_test]
        assert report["sizes"]["attack_val"] == len(unseen) > (labels[data.splits["val"].numpy()] == 3).sum()
        assert report["sizes"]["attack_negatives_from"] == {"val": len(unseen) - len(forgotten_test),
                                                            "test": len(forgotten_test)}
        p_unseen = torch.softmax(_independent_logits(model, data, torch.from_numpy(unseen)), 1)[:, 3].numpy()
        p_forget = stats["forget"]["confidence"].numpy()
        expected_auc = roc_auc_score(np.r_[np.ones(len(p_forget)), np.zeros(len(unseen))], np.r_[p_forget, p_unseen])
        assert report["attacks"]["forget_vs_val"]["confidence"]["auc"] == pytest.approx(expected_auc, abs=1e-3)
    else:
        assert "forgotten_test_acc" not in report
        assert report["sizes"]["attack_val"] == len(data.splits["val"])
    assert report["sizes"]["mia_members"] == len(members) and report["sizes"]["retain"] == len(retain_idx)


def test_mia_efficacy_fits_a_seeded_subsample_of_large_sets(tiny, monkeypatch):
    """Sets over MIA_MAX_POINTS are fitted on that many seeded points (Fashion-MNIST's 9,000 + 9,000
    made each fit take 40 s); the figure is the literature's SVC on exactly those points."""
    from dau_cli.engine import mia

    ckpt, model, data = tiny
    forget = forget_set_for_audit(ckpt, data, classes="3")
    full = audit(model, data, forget, bootstrap=0, attacks=False)
    n_members, n_non = full["sizes"]["mia_members"], full["sizes"]["mia_non_members"]
    assert full["mia_bootstrap"]["fitted_members"] == n_members > 60  # small sets are fitted whole
    monkeypatch.setattr(mia, "MIA_MAX_POINTS", 60)
    report = audit(model, data, forget, bootstrap=2, attacks=False)
    assert report["mia_bootstrap"]["fitted_members"] == report["mia_bootstrap"]["fitted_non_members"] == 60
    assert audit(model, data, forget, bootstrap=2, attacks=False)["mia_efficacy_interval"] == \
        report["mia_efficacy_interval"]  # seeded: a re-audit fits the same points

    labels = data.labels.numpy()
    train, test = data.splits["train"].numpy(), data.splits["test"].numpy()
    forget_idx = np.sort(forget.indices.numpy())
    members = train[~np.isin(train, forget_idx)][:n_members][mia.subsample(n_members, seed=0)]
    non_members = test[labels[test] != 3][mia.subsample(n_non, seed=1)]
    conf = {name: sample_stats(_independent_logits(model, data, torch.from_numpy(idx)),
                               torch.from_numpy(labels[idx]))["confidence"].numpy()
            for name, idx in (("f", forget_idx), ("m", members), ("n", non_members))}
    svc = SVC(C=3, kernel="rbf", gamma="auto").fit(np.r_[conf["m"], conf["n"]][:, None],
                                                   np.r_[np.ones(60), np.zeros(60)])
    assert report["mia_efficacy"] == pytest.approx(100 * (svc.predict(conf["f"][:, None]) == 0).mean(), abs=1e-9)


def test_mia_efficacy_interval_is_narrow_when_the_svc_is_sure_and_spans_0_100_when_it_extrapolates():
    rng = np.random.default_rng(0)
    resamples = bootstrap_weights(300, 300, 20)

    def width(members, non_members, forget):
        lo, hi = interval([mia_efficacy(members, non_members, forget, weights=w) for w in resamples])
        return hi - lo

    # members and non-members far apart, the forget set among the members: every refit says "member"
    sure = [width(rng.normal(2, 0.5, 300), rng.normal(-2, 0.5, 300), rng.normal(2, 0.5, 100)) for _ in range(10)]
    assert sure == [0.0] * 10
    # the case: the forget set sits far outside both training sets (p_y ~ 1e-4 against
    # members and non-members near 1), so which side it falls on is the intercept's sign, which
    # the resample decides: the interval spans 0-100 on most draws (19 of 20 when measured)
    guessing = [width(rng.normal(0, 1, 300), rng.normal(0, 1, 300), rng.normal(8, 0.1, 100)) for _ in range(10)]
    assert sum(w > UNSTABLE_WIDTH for w in guessing) >= 8
    # a resample's counts are fitted as copies: the same prediction as duplicating the points
    members, non_members, queries = rng.normal(0, 1, 300), rng.normal(0.5, 1, 300), rng.normal(0, 1, 200)
    for w_m, w_n in resamples[:3]:
        assert mia_efficacy(members, non_members, queries, weights=(w_m, w_n)) == \
            mia_efficacy(np.repeat(members, w_m), np.repeat(non_members, w_n), queries)


def test_audit_events(tiny):
    ckpt, model, data = tiny
    sink = Recorder()
    report = audit(model, data, forget_set_for_audit(ckpt, data, classes="3"), sink)
    by_type: dict[str, list[dict]] = {}
    for e in sink.events:
        by_type.setdefault(e["type"], []).append(e)
    assert len(by_type["epoch"]) == 1
    epoch = by_type["epoch"][0]
    assert epoch["metrics"]["ua"] == report["ua"] and epoch["metrics"]["mia_efficacy"] == report["mia_efficacy"]
    assert epoch["auc"] == {s: a["auc"] for s, a in report["attacks"]["forget_vs_val"].items()}
    rocs = by_type["roc"]
    assert {(e["pair"], e["attack"]) for e in rocs} == {(p, s) for p in ("forget_vs_val", "retain_vs_test")
                                                        for s in ATTACK_STATISTICS}
    assert all(len(e["fpr"]) == len(e["tpr"]) <= 200 for e in rocs)
    assert by_type["phase"][0]["total"] == len(by_type["step"])
    assert "result" not in by_type  # the command that owns the run emits it


def test_audit_without_attacks_keeps_the_literature_numbers(tiny):
    ckpt, model, data = tiny
    report = audit(model, data, forget_set_for_audit(ckpt, data, classes="3"), attacks=False)
    assert report["attacks"] == {} and 0 <= report["mia_efficacy"] <= 100


# ----------------------------------------------------------------------------- the forget set's origin


def _with_forget_entry(ckpt: dict, indices: torch.Tensor, mode: str = "class", classes=(3,)) -> dict:
    entry = {"op": "forget", "forget_indices": indices,
             "forget": {"mode": mode, "classes": list(classes), "fraction": None, "seed": None, "size": len(indices)}}
    return {**ckpt, "lineage": [*ckpt["lineage"], entry]}


def test_forget_set_comes_from_the_lineage_unless_flags_are_given(tiny):
    ckpt, _, data = tiny
    with pytest.raises(DauError, match="--classes.*--random.*--indices"):
        forget_set_for_audit(ckpt, data)
    by_flag = forget_set_for_audit(ckpt, data, classes=[3])
    recorded = forget_set_for_audit(_with_forget_entry(ckpt, by_flag.indices.flip(0)), data)
    assert recorded.mode == "class" and recorded.classes == (3,)
    assert torch.equal(recorded.indices, by_flag.indices)  # sorted again
    overridden = forget_set_for_audit(_with_forget_entry(ckpt, by_flag.indices), data, random=0.1)
    assert overridden.mode == "random" and not torch.equal(overridden.indices, by_flag.indices)
    outside = torch.cat([by_flag.indices, data.splits["test"][:1]])
    with pytest.raises(DauError, match="not inside its training split"):
        forget_set_for_audit(_with_forget_entry(ckpt, outside), data)


def test_check_reference_needs_the_same_data_view(tiny):
    ckpt, _, _ = tiny
    check_reference(ckpt, ckpt)
    splits = dict(ckpt["data"]["splits"])
    splits["val"] = splits["val"][1:]
    other = {**ckpt, "data": {**ckpt["data"], "splits": splits}}
    with pytest.raises(DauError, match="different val split"):
        check_reference(ckpt, other, "ref.pt")
    with pytest.raises(DauError, match="cifar10"):
        check_reference(ckpt, {**ckpt, "data": {**ckpt["data"], "dataset": "cifar10"}})


# ----------------------------------------------------------------------------- comparison


def test_compare_reports_and_avg_gap():
    stats = {s: 10.0 for s in ATTACK_STATISTICS}
    model = {"ua": 10.0, "ra": 99.0, "ta": 95.0, "val_acc": 96.0, "mia_efficacy": 20.0,
             "mia_efficacy_by_statistic": {**stats, "loss": 30.0}}
    reference = {"ua": 12.0, "ra": 100.0, "ta": 94.0, "val_acc": 96.0, "mia_efficacy": 28.0,
                 "forgotten_test_acc": 0.0, "mia_efficacy_by_statistic": stats}
    assert avg_gap(model, reference) == pytest.approx((2 + 1 + 1 + 8) / 4)
    c = compare_reports(model, reference)
    assert c["avg_gap"] == pytest.approx(3.0)
    assert c["ua"] == {"model": 10.0, "reference": 12.0, "diff": -2.0}
    assert c["ta"]["diff"] == 1.0 and c["val_acc"]["diff"] == 0.0
    assert c["mia_efficacy.loss"]["diff"] == 20.0
    assert "forgotten_test_acc" not in c  # only one side has it
