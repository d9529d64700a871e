"""Unlearning methods: a registry of functions that change a model so it forgets D_f.

Each method is `fn(task: Task, cfg) -> image_passes`, where `cfg` is the method's frozen config
section (dau_cli/config.py: `dau`, `dau-authors`, `retrain`, `ft`, `ga`, `rl`, `l1`, `salun`,
`scrub`; the section of the method's name). It changes `task.model` in place, steps only through
`train.Stepper` (so pruning masks hold), emits `step` events, and calls `task.end_epoch` after
every epoch. Evaluation time is kept out of the wall time.
"""

from __future__ import annotations

from collections.abc import Callable

from dau_cli.engine.unlearn import baselines, dau, dau_authors
from dau_cli.engine.unlearn.task import Task

Method = Callable[[Task, object], int]
METHODS: dict[str, Method] = {  # read only: a new method gets a line here (docs/architecture.md)
    "retrain": baselines.retrain, "ft": baselines.ft, "l1": baselines.l1, "ga": baselines.ga, "rl": baselines.rl,
    "salun": baselines.salun, "scrub": baselines.scrub, "dau": dau.dau, "dau-authors": dau_authors.dau_authors,
}


def check_method(name: str) -> None:
    if name not in METHODS:
        from dau_cli.errors import DauError

        raise DauError(f"unknown method '{name}'; choose one of: {', '.join(METHODS)}")
