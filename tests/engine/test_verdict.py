"""The verdict's statistics on synthetic distributions with known answers, and its decision rule."""

from __future__ import annotations

import numpy as np
import pytest

from dau_cli.engine.verdict import (
    ALPHA,
    decide,
    gaussian_z,
    lira_test,
    loo_z,
    output_test,
    prediction_test,
    tamper_test,
)
from dau_cli.engine.roc import roc_summary

K, N = 16, 120


def world(seed: int = 0):
    """Per-sample means spread like a real forget set; every model adds its own shift and noise."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(-5, 3, N)

    def models(k: int, shift: float = 0.0) -> np.ndarray:
        return mu + shift + rng.normal(0, 0.3, (k, 1)) + rng.normal(0, 1.0, (k, N))

    return rng, models


def test_an_identical_model_passes_and_shifted_ones_are_caught_in_both_tails():
    rng, models = world()
    out = models(K)
    same = output_test(models(1)[0], out, None, rng)
    assert same["status"] == "pass" and abs(same["roc"]["auc"] - 0.5) < 0.1
    assert same["roc"]["auc_ci"][0] < 0.5 < same["roc"]["auc_ci"][1]
    up = output_test(models(1, shift=2.0)[0], out, None, rng)
    assert up["status"] == "above" and up["roc"]["auc"] > 0.85 and up["share_above"] > 0.3
    down = output_test(models(1, shift=-2.0)[0], out, None, rng)
    assert down["status"] == "below" and down["roc"]["auc"] < 0.15 and down["share_below"] > 0.3
    assert down["roc"]["tpr_at_fpr_low"]["0.01"]["value"] > 0.2  # the lower tail is reported too


def test_leave_one_out_calibration_flags_fresh_models_at_about_the_nominal_rate():
    rng, models = world(1)
    out = models(K)
    null = loo_z(out)
    assert abs(null.mean()) < 0.2 and 0.8 < null.std() < 1.25  # z-scores of a retrained model are ~N(0, 1)
    flagged = [output_test(models(1)[0], out, None, rng, roc=False)["status"] != "pass" for _ in range(150)]
    assert np.mean(flagged) <= 4 * ALPHA + 0.03  # about the nominal rate, not the 50 % a bad scale gives
    z = gaussian_z(out, models(1)[0])
    assert abs(z.mean()) < 1.5


def test_lira_tells_members_from_non_members_and_measures_its_own_power():
    rng, models = world(2)
    out, inn = models(K), models(K, shift=1.5)
    member = lira_test(models(1, shift=1.5)[0], out, inn, rng)
    assert member["status"] == "above" and member["roc"]["auc"] > 0.75
    non_member = lira_test(models(1)[0], out, inn, rng)
    assert non_member["status"] == "pass"
    assert member["power"]["cohens_d"] > 2 and member["power"]["in_flagged"] > 0.5


def test_lira_without_a_membership_signal_has_no_power():
    rng, models = world(3)
    out, inn = models(K), models(K)
    result = lira_test(models(1)[0], out, inn, rng)
    assert result["status"] == "pass" and abs(result["power"]["cohens_d"]) < 1.5
    assert abs(result["power"]["per_sample_auc"] - 0.5) < 0.05


def test_tprs_the_sample_cannot_resolve_are_marked():
    rng = np.random.default_rng(4)
    summary = roc_summary(rng.normal(size=120), rng.normal(size=(16, 120)), rng)
    assert summary["tpr_at_fpr"]["0.01"]["resolved"] is True
    assert summary["tpr_at_fpr"]["0.001"]["resolved"] is False  # 120 positives cannot resolve 1 in 1000
    lo, hi = summary["tpr_at_fpr"]["0.01"]["ci"]
    assert lo <= summary["tpr_at_fpr"]["0.01"]["value"] <= hi


def test_prediction_interval_is_two_sided_and_one_sided_on_request():
    refs = np.array([0.0, 0.1, -0.1, 0.05, -0.05, 0.02])
    assert prediction_test(1.0, refs)["direction"] == "above"
    assert prediction_test(-1.0, refs)["direction"] == "below"
    assert prediction_test(-1.0, refs, sided="upper")["direction"] is None
    assert prediction_test(0.01, refs)["direction"] is None


def test_tamper_tests_flag_recovery_and_refuse_to_guess_when_references_disagree():
    assert tamper_test("relearning", 85.0, [0.0, 2.0, 5.0, 0.0], 120)["status"] == "above"
    assert tamper_test("relearning", 4.0, [0.0, 2.0, 5.0, 0.0], 120)["status"] == "pass"
    assert tamper_test("relearning", 4.0, [0.0, 0.0, 0.0, 0.0], 120)["status"] == "pass"  # binomial noise counts
    disagree = tamper_test("relearning", 50.0, [0.0, 100.0, 5.0, 95.0], 120)
    assert disagree["status"] == "undecided" and "disagree" in disagree["why"]
    assert tamper_test("probe", 50.0, [40.0], 120)["status"] == "undecided"


@pytest.mark.parametrize("statuses, verdict, first", [
    ({"output": "pass", "lira": "pass", "relearn": "pass", "probe": "pass"}, "forgotten", "output"),
    ({"output": "above", "lira": "pass", "relearn": "above", "probe": "pass"}, "not forgotten", "output"),
    ({"output": "below", "lira": "pass", "relearn": "above", "probe": "pass"}, "superficial", "relearning"),
    ({"output": "below", "lira": "pass", "relearn": "pass", "probe": "above"}, "superficial", "representation"),
    ({"output": "below", "lira": "below", "relearn": "pass", "probe": "pass"}, "over-forgotten", "output"),
    ({"output": "undecided", "lira": "undecided", "relearn": "undecided", "probe": "undecided"}, "no reference", ""),
])
def test_decide(statuses, verdict, first):
    tests = {k: fake_test(k, s) for k, s in statuses.items()}
    got, reasons = decide(tests)
    assert got == verdict
    assert reasons[0].startswith(first)
    assert len(reasons) >= 4


def fake_test(name: str, status: str) -> dict:
    t = {"status": status, "value": 1.0, "reference_mean": 0.0, "reference_sd": 0.1, "references": 8,
         "why": "needs references"}
    if name == "output":
        t.update(share_above=0.5, share_below=0.0, reference_share_above=0.02, reference_share_below=0.02,
                 roc={"auc": 0.9})
    if name == "lira":
        t.update(power={"cohens_d": 3.0, "in_flagged": 0.2, "in_references": 8}, roc={"auc": 0.9})
    if name == "relearn":
        t.update(curve=[80.0, 85.0], steps=[5, 10])
    return t


def tampered(recovered: float, probe: float = 50.0) -> dict:
    """A tamper-test result as bank.run_tamper_tests gives it: accuracy on D_f after 0/10/20/40 steps."""
    return {"relearn": {"steps": [0, 10, 20, 40], "forget_acc": [0.0, recovered / 4, recovered / 2, recovered]},
            "probe": {"forget_acc": probe}}


def test_judge_decides_from_numbers_alone_without_torch_files_or_the_bank(monkeypatch):
    """verdict.judge is pure: statistics in, verdict out. It imports no torch and no bank, and opens no file."""
    import subprocess
    import sys

    from dau_cli.engine.verdict import References, Tampering, judge

    code = "import sys, dau_cli.engine.verdict; assert not {'torch', 'dau_cli.engine.bank'} & set(sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    monkeypatch.setattr("builtins.open", lambda *a, **k: pytest.fail("judge opened a file"))
    _, models = world(5)
    refs = References(models(K), models(K, shift=1.5))
    theirs = [tampered(r, 50.0 + r) for r in (2.0, 0.0, 5.0, 1.0)]
    forgotten = judge(models(1)[0], refs, Tampering(tampered(3.0, 52.0), theirs))
    assert forgotten["verdict"] == "forgotten" and set(forgotten) == {"verdict", "reasons", "tests"}
    assert list(forgotten["tests"]) == ["output", "lira", "relearn", "probe"]
    assert judge(models(1, shift=1.5)[0], refs, Tampering(tampered(3.0), theirs))["verdict"] == "not forgotten"
    superficial = judge(models(1)[0], refs, Tampering(tampered(90.0, 52.0), theirs))
    assert superficial["verdict"] == "superficial" and superficial["reasons"][0].startswith("relearning: ABOVE")
    assert superficial["tests"]["relearn"]["curve"] == [22.5, 45.0, 90.0] and superficial["tests"]["relearn"]["before"] == 0.0
