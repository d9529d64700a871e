"""README.md's commands run top to bottom as written, in a fresh DAU_HOME and an empty folder.

Every line of every ```bash block is run as a user would type it (the comment after `#`
dropped), each in a fresh process, and must exit 0, except the blocks in NOT_RUN, each for the
reason given there (and the Fashion-MNIST block where the data set is not installed), and the
dashboard's lines (`dau tui`, `... --tui`), which are interactive and
tested in tests/tui. Takes about 6 minutes on an idle 2-core CPU (docs/results.md); it starts
first, beside the rest of the suite (tests/conftest.py).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bash_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(section heading, command lines) of each ```bash block, in order."""
    blocks, heading = [], ""
    for m in re.finditer(r"^(#+ [^\n]*)$|^```bash\n(.*?)^```", text, re.M | re.S):
        if m.group(1):
            heading = m.group(1).lstrip("# ").strip()
        else:
            lines = [ln.split(" #")[0].strip() for ln in m.group(2).splitlines()]
            blocks.append((heading, [ln for ln in lines if ln and not ln.startswith("#")]))
    return blocks


#: Blocks (by the heading they sit under) that this test does not run, and why.
NOT_RUN = {
    "Quickstart": "install, then this test suite: `.ci/run` runs exactly these two lines",
    "Many jobs on a Ray cluster": "needs the ray extra and a cluster; tests/engine/test_jobs.py runs Ray locally",
    "Checking a GPU": "needs a CUDA GPU (about 6 minutes on an H100)",
    "Development": "an editable install, then this test suite (checked by hand on a fresh clone; CI installs as the "
                   "quickstart says)",
}


def not_run() -> dict[str, str]:
    """NOT_RUN, and the Fashion-MNIST block where Debian's package is missing (CI installs it)."""
    from dau_cli.engine.datasets import DEBIAN_FASHION

    if DEBIAN_FASHION.is_dir():
        return NOT_RUN
    return {**NOT_RUN, "Your data and your models": f"Fashion-MNIST is not in {DEBIAN_FASHION}: "
                                                    f"apt-get install dataset-fashion-mnist (CI does)"}


def prepare(command: str, work: Path) -> None:
    """Files a README line names that a user brings: a folder of photos, weights saved elsewhere."""
    if "folder:photos" in command and not (work / "photos").exists():
        from makers import make_image_folder

        make_image_folder(work / "photos", classes=("cat", "dog", "owl"), per_class=12)
    if "weights.pt" in command and not (work / "weights.pt").exists():
        import torch

        # The trained LeNet's weights as another program saves them: normalisation in its transforms
        # (Normalize(0.5, 0.25)), so no mean and std in the state dict.
        state = torch.load(work / "fashion-mnist-lenet.pt", weights_only=True)["state_dict"]
        torch.save({k: v for k, v in state.items() if k not in ("mean", "std")}, work / "weights.pt")


def readme_commands() -> list[str]:
    commands = []
    skipped = not_run()
    for heading, lines in bash_blocks((ROOT / "README.md").read_text()):
        if heading in skipped:
            continue
        commands += [ln for ln in lines if not (ln.startswith("dau tui") or ln.endswith("--tui"))]
    return commands


def test_the_quickstart_is_what_ci_runs():
    quick = dict(bash_blocks((ROOT / "README.md").read_text()))["Quickstart"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert len(quick) == 2
    for line in quick:
        assert line in ci, line


def test_the_readmes_commands_run_top_to_bottom_as_written(tmp_path):
    commands = readme_commands()
    assert commands and all(c.startswith("dau ") for c in commands), commands
    env = {**os.environ, "DAU_HOME": str(tmp_path / "home"), "COLUMNS": "80",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    work = tmp_path / "work"
    work.mkdir()
    verdicts = []
    for command in commands:
        prepare(command, work)
        argv = [sys.executable, "-m", "dau_cli", *shlex.split(command)[1:]]
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"`{command}` failed ({done.returncode}):\n{done.stderr[-2000:]}"
        if command.startswith("dau audit"):  # the flow ends in a verdict, the audit's first line
            first = done.stdout.strip().splitlines()[0]
            assert re.search(r"\b(forgotten|not forgotten|superficial|over-forgotten|no reference)\b", first), first
            verdicts.append(first)
    assert verdicts and "no reference" not in verdicts[0], verdicts  # the README's audit decides
    headings = {h for h, _ in bash_blocks((ROOT / "README.md").read_text())}
    assert set(not_run()) <= headings, "a block NOT_RUN names is gone: update NOT_RUN"
    made = {p.name for p in work.iterdir()}
    assert {"digits-cnn.pt", "digits-cnn-forget-dau-class3.pt", "digits-cnn-forget-retrain-class3.pt",
            "digits-cnn-forget-dau-random0.1-seed0.pt", "roc.png"} <= made, made
    if "Your data and your models" not in not_run():
        assert {"fashion-mnist-lenet.pt", "photos-lenet.pt", "weights-imported.pt"} <= made, made
