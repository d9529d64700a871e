"""A mistyped name gets the closest known one in its error line: methods (forget -m, prune -m,
compare --methods). A name far from every known one gets no suggestion."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("args, wrong, meant", [
    (["forget", "{x}", "-c", "3", "-m", "daau"], "--method: unknown method 'daau'", "dau"),
    (["forget", "{x}", "-c", "3", "--method=sclub"], "--method: unknown method 'sclub'", "scrub"),
    (["compare", "{x}", "-c", "3", "--methods", "dau,sclub"], "--methods: unknown method 'sclub'", "scrub"),
    (["compare", "{x}", "-c", "3", "--methods", "fT[ft.lr=0.1]"], "--methods: unknown method 'fT'", "ft"),
    (["prune", "{x}", "-s", "0.5", "-m", "opm"], "--method: unknown pruning method 'opm'", "omp"),
])
def test_a_mistyped_method_names_the_closest_one(dau, user_error, tmp_path, args, wrong, meant):
    line = user_error(dau(*(a.replace("{x}", str(tmp_path / "x.pt")) for a in args)))
    assert f"{wrong} (did you mean '{meant}'?)" in line, line
    assert "choose one of" in line and ("`dau methods`" in line or "`dau prune -h`" in line)


@pytest.mark.parametrize("args", [["forget", "x.pt", "-c", "3", "-m", "zzzz"],
                                  ["compare", "x.pt", "-c", "3", "--methods", "dau,zzzz"],
                                  ["prune", "x.pt", "-s", "0.5", "-m", "zzzz"]])
def test_a_far_off_method_gets_no_suggestion(dau, user_error, args):
    line = user_error(dau(*args))
    assert "unknown" in line and "'zzzz'" in line and "did you mean" not in line


def test_the_method_option_still_lists_and_completes_its_choices(dau):
    assert "<dau|dau-authors|retrain|ft|ga|rl|l1|salun|scrub>" in dau("forget", "-h").stdout.replace("\n", "")
    assert "<omp|imp|synflow>" in dau("prune", "-h").stdout
