"""Per-example forgetting quality (engine/forgetting_quality.py) and its place in `compare`'s table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dau_cli.engine.forgetting_quality import epsilons, forgetting_quality


def test_two_models_a_side_told_apart_give_the_largest_eps_either_way_round():
    low, high = np.array([[1.0], [2.0]]), np.array([[3.0], [4.0]])
    most = math.log(1 - 0.01 - 0.25) - math.log(0.25)  # both rates at their floor, 1/(2N)
    assert epsilons(low, high)[0] == pytest.approx(most)
    assert epsilons(high, low)[0] == pytest.approx(most)
    assert epsilons(np.array([[1.0], [3.0]]), np.array([[2.0], [4.0]]))[0] < most  # interleaved: less


def test_retrained_like_models_score_high_and_distinguishable_ones_low():
    rng = np.random.default_rng(0)
    same = forgetting_quality(rng.normal(size=(8, 400)), rng.normal(size=(8, 400)))
    shifted = forgetting_quality(rng.normal(1, 1, size=(8, 400)), rng.normal(size=(8, 400)))
    apart = forgetting_quality(rng.normal(10, 1, size=(8, 400)), rng.normal(size=(8, 400)))
    assert same > 0.18 and 0.06 < shifted < same * 0.7  # 8 models a side: retraining itself scores ~0.21
    assert apart == 2 / 2 ** 6  # eps = log(0.9275 / 0.0625) = 2.70: the bin from 2.5, the 6th


def test_outputs_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        epsilons(np.zeros((4, 3)), np.zeros((4, 2)))


def cell(method: str, seed: int, outputs: list[float], digest: str = "d") -> dict:
    return {"label": "dense", "method": method, "seed": seed, "ua": 0.0, "ra": 0.0, "ta": 0.0, "mia_efficacy": 0.0,
            "wall_time_s": 0.0, "image_passes": 0, "forget_digest": digest, "forget_outputs": outputs}


def test_compare_rows_get_it_from_8_seeds_each_half_against_the_other_halfs_retrains():
    from dau_cli.engine.compare import markdown, table

    rng = np.random.default_rng(1)
    seeds = list(range(8))
    cells = [cell(m, s, list(rng.normal(shift, 1, 50))) for s in seeds
             for m, shift in (("original", 6.0), ("retrain", 0.0), ("ft", 0.5))]
    rows = {r["method"]: r for r in table(cells, {"dense": None}, ["retrain", "ft"], seeds)["rows"]}
    quality = {m: rows[m]["forgetting_quality"] for m in rows}
    assert {q["models"] for q in quality.values()} == {4}
    assert quality["retrain"]["value"] > quality["ft"]["value"] > quality["original"]["value"]
    by = {(c["method"], c["seed"]): c for c in cells}
    expected = forgetting_quality([by[("ft", s)]["forget_outputs"] for s in seeds[:4]],
                                  [by[("retrain", s)]["forget_outputs"] for s in seeds[4:]])
    assert quality["ft"]["value"] == expected
    assert "Forgetting quality per example" in markdown({"rows": list(rows.values())}, "t")

    # Too few seeds, or one forget set per seed (random forgetting): no value rather than a wrong one.
    assert all("forgetting_quality" not in r for r in table(cells, {"dense": None}, ["retrain", "ft"], seeds[:6])["rows"])
    drawn = [{**c, "forget_digest": str(c["seed"])} for c in cells]
    assert all("forgetting_quality" not in r for r in table(drawn, {"dense": None}, ["retrain", "ft"], seeds)["rows"])
