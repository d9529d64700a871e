"""A mistyped name gets the closest known one in its error line: methods (forget -m, prune -m,
compare --methods), a missing file's near-miss in its folder, run ids (a typo in an id or in its
start), runs ls's --method and --dataset filters, recipes, and a setting's choices (data sets, architectures, devices). A name far from every known one gets no suggestion."""

from __future__ import annotations

import json

import pytest

FORGET_ID, TRAIN_ID = "20261128-013512-forget-a1b2c3", "20261128-013514-train-ffffff"


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


def test_a_missing_checkpoint_names_a_file_with_a_close_name_in_its_folder(dau, user_error, tmp_path):
    (tmp_path / "digits-cnn.pt").write_bytes(b"x")
    line = user_error(dau("forget", tmp_path / "digit-cnn.pt", "-c", "3"))
    assert f"{tmp_path / 'digit-cnn.pt'} does not exist (did you mean '{tmp_path / 'digits-cnn.pt'}'?); train one" \
        in line, line
    assert "did you mean" not in user_error(dau("info", tmp_path / "zzz.pt"))


def test_the_near_miss_prefers_the_same_suffix(dau, user_error, tmp_path):
    (tmp_path / "digits.pth").write_bytes(b"x")  # the closer name, another suffix
    (tmp_path / "digit.pt").write_bytes(b"x")
    assert f"(did you mean '{tmp_path / 'digit.pt'}'?)" in user_error(dau("info", tmp_path / "dgits.pt"))
    (tmp_path / "digit.pt").unlink()
    assert f"(did you mean '{tmp_path / 'digits.pth'}'?)" in user_error(dau("info", tmp_path / "dgits.pt"))


def test_every_input_file_gets_the_near_miss_and_hidden_files_are_not_offered(dau, user_error, tmp_path):
    (tmp_path / "model.pt").write_bytes(b"not read")
    (tmp_path / "positions.txt").write_text("1\n")
    line = user_error(dau("forget", tmp_path / "model.pt", "--indices", tmp_path / "position.txt"))
    assert f"(did you mean '{tmp_path / 'positions.txt'}'?)" in line
    (tmp_path / ".digits-cnn.pt").write_bytes(b"x")
    assert "did you mean" not in user_error(dau("info", tmp_path / "digits-cnn.pt"))


def test_a_relative_path_is_suggested_as_it_was_given(dau, user_error, tmp_path, monkeypatch):
    (tmp_path / "digits-cnn.pt").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert "digit-cnn.pt does not exist (did you mean 'digits-cnn.pt'?)" in user_error(dau("info", "digit-cnn.pt"))


@pytest.fixture
def two_runs(dau_home):
    for i, run_id in enumerate((FORGET_ID, TRAIN_ID)):
        folder = dau_home / "runs" / run_id
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({
            "schema": 1, "id": run_id, "command": run_id.split("-")[2], "argv": [], "config": {}, "pid": 1,
            "host": "elsewhere", "device": "cpu", "status": "completed", "started": 1.7e9 + i, "ended": 1.7e9 + 5,
            "summary": {}, "outputs": {}}))
        (folder / "events.jsonl").write_text("")
    return dau_home / "runs"


@pytest.mark.parametrize("given, meant", [
    ("20261128-013512-forget-a1b2c4", f"'{FORGET_ID}'"),  # one character off
    ("20261128-013512-froget-a1b2c3", f"'{FORGET_ID}'"),
    ("20261128-013515-train", f"'{TRAIN_ID}'"),  # a mistyped start of one id
    ("20261128-0136", f"'{TRAIN_ID}' or '{FORGET_ID}'"),  # ... of both: the newest first
    ("lates", "'latest'"),
])
def test_a_mistyped_run_id_names_the_closest_runs(dau, user_error, two_runs, given, meant):
    for command in (("runs", "show"), ("runs", "export", "--csv"), ("runs", "rm", "--yes")):
        line = user_error(dau(*command[:2], given, *command[2:]))
        assert f"no run '{given}' in {two_runs} (did you mean {meant}?); `dau runs ls`" in line, line
    assert sorted(p.name for p in two_runs.iterdir()) == [FORGET_ID, TRAIN_ID]  # rm removed nothing


@pytest.mark.parametrize("args, says", [
    (["--method", "daau"], "--method: unknown method 'daau' (did you mean 'dau'?); choose one of"),
    (["--dataset", "fashon"], "--dataset: unknown data set 'fashon' (did you mean 'fashion-mnist'?)"),
    (["--method", "zzzz"], "--method: unknown method 'zzzz'; choose one of"),
    (["--dataset", "zzzz"], "--dataset: unknown data set 'zzzz'; choose one of"),
    (["--command", "forgte"], "--command: unknown command 'forgte' (did you mean 'forget'?); choose one of"),
    (["--verdict", "forgoten"], "--verdict: unknown verdict 'forgoten' (did you mean 'forgotten'?); choose one of"),
])
def test_a_mistyped_runs_ls_filter_names_the_closest_one(dau, user_error, two_runs, args, says):
    assert says in user_error(dau("runs", "ls", *args))


def test_a_runs_ls_filter_a_run_recorded_or_a_known_one_still_just_filters(dau, two_runs):
    record = json.loads((two_runs / FORGET_ID / "run.json").read_text())
    record["config"] = {"method": "an-old-method", "data": {"dataset": "folder:/pictures"}}
    (two_runs / FORGET_ID / "run.json").write_text(json.dumps(record))
    for args, ids in ((["--method", "an-old-method"], [FORGET_ID]), (["--dataset", "folder:/pictures"], [FORGET_ID]),
                      (["--method", "salun"], []), (["--method", "dau[dau.repair_lr=0.03]"], []), (["--dataset", "folder:/elsewhere"], []), (["--dataset", "svhn"], []),
                      (["--command", "prune"], []), (["--verdict", "over-forgotten"], [])):
        r = dau("runs", "ls", "--json", *args)
        assert r.exit_code == 0, r.output
        assert [run["id"] for run in json.loads(r.stdout)["runs"]] == ids


def test_a_far_off_run_id_gets_no_suggestion_and_no_runs_say_so(dau, user_error, two_runs):
    line = user_error(dau("runs", "show", "nope"))
    assert "no run 'nope'" in line and "did you mean" not in line
    for run_id in (FORGET_ID, TRAIN_ID):
        (two_runs / run_id / "run.json").unlink()
        (two_runs / run_id / "events.jsonl").unlink()
        (two_runs / run_id).rmdir()
    assert "no run 'nope': there are no runs in" in user_error(dau("runs", "show", "nope"))


@pytest.mark.parametrize("args, says", [
    (["recipes", "show", "fashon-lenet"], "unknown recipe 'fashon-lenet' (did you mean 'fashion-lenet'?); choose one of"),
    (["recipes", "cp", "digts-cnn", "{tmp}/x.toml"], "unknown recipe 'digts-cnn' (did you mean 'digits-cnn'?)"),
    (["train", "--recipe", "digts-cnn", "-o", "{tmp}/m.pt"], "unknown recipe 'digts-cnn' (did you mean 'digits-cnn'?)"),
    (["forget", "{tmp}/model.pt", "-c", "3", "-r", "Forget-Clas"], "(did you mean 'forget-class'?)"),
    (["train", "--recipe", "{tmp}/my-recpe.toml"], "my-recpe.toml does not exist (did you mean '{tmp}/my-recipe.toml'?)"),
    (["train", "--set", "data.dataset=fashon"], "got 'fashon' (did you mean 'fashion-mnist'?) (from --set)"),
    (["train", "--dataset", "fashon"], "got 'fashon' (did you mean 'fashion-mnist'?) (from a flag)"),
    (["train", "--set", "model.arch=lenett"], "got 'lenett' (did you mean 'lenet'?)"),
    (["train", "--set", "train.device=cdua"], "got 'cdua' (did you mean 'cuda'?)"),
    (["import", "{tmp}/model.pt", "--arch", "cnn", "--dataset", "cifar-10"], "got 'cifar-10' (did you mean 'cifar10'?)"),
])
def test_a_mistyped_recipe_or_choice_names_the_closest_one(dau, user_error, tmp_path, args, says):
    (tmp_path / "model.pt").write_bytes(b"not read")
    (tmp_path / "my-recipe.toml").write_text("[train]\nepochs = 1\n")
    line = user_error(dau(*(a.replace("{tmp}", str(tmp_path)) for a in args)))
    assert says.replace("{tmp}", str(tmp_path)) in line, line


@pytest.mark.parametrize("args", [["recipes", "show", "zzzz"], ["recipes", "cp", "zzzz", "x.toml"],
                                  ["train", "--recipe", "zzzz.toml"], ["train", "--set", "data.dataset=zzzz"],
                                  ["train", "--set", "model.arch=zzzz"]])
def test_a_far_off_recipe_or_choice_gets_no_suggestion(dau, user_error, args):
    line = user_error(dau(*args))
    assert "zzzz" in line and "did you mean" not in line
