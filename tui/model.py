"""What the dashboard knows about one run, built from its events alone (no Textual, no torch).

`RunModel` folds events into bounded series (at most `limit` points each, however long the run)
and hands out immutable `RunSnapshot`s that the UI thread can draw without locks; follow.py reads
the events from a run's files and feeds them in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .series import SERIES_LIMIT, Series, finite
from .series import fmt_duration, fmt_number, fmt_time  # noqa: F401 (the screens import them from here)

#: Step keys drawn as losses. DAU's game steps carry the first five, its guarded repair steps
#: `guard` (the relearning guard's hinge); plain training carries `loss`.
ATTACKER_KEYS = ("attacker_loss",)
DEFENDER_KEYS = ("defender_loss", "ce", "adv", "bt", "guard")
PLAIN_KEYS = ("loss", "acc")
STEP_KEYS = ATTACKER_KEYS + DEFENDER_KEYS + PLAIN_KEYS
#: Loops that train the attacker alone before the game (DAU's and dau-authors'): drawn apart, so
#: their steps (1,000 for dau-authors) do not crowd the game's.
WARMUP_PHASES = ("attacker warm-up", "attacker pre-training")


def is_warmup(phase: Any) -> bool:
    return phase in WARMUP_PHASES


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Roc:
    attack: str
    pair: str
    fpr: tuple[float, ...]
    tpr: tuple[float, ...]
    auc: float | None


@dataclass(frozen=True)
class Verdict:
    """An audit's verdict event: the verdict, its reasons in words, and each reference test's numbers."""

    verdict: str
    reasons: tuple[str, ...] = ()
    #: (test name, {field: number or word}), in the order the event lists them (e.g. output, lira,
    #: relearn, probe; fields such as status, value, reference_mean, reference_sd, references, auc, why)
    tests: tuple[tuple[str, dict[str, float | str]], ...] = ()
    model: str | None = None  # the model judged, where the event names it (`model` or `checkpoint`)


@dataclass(frozen=True)
class RunSnapshot:
    """Everything the run screen draws, frozen at one moment (safe to hand between threads)."""

    events: int = 0
    unknown: int = 0
    dau: bool = False  # whether step events carry DAU losses
    steps: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    warmup: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)  # by warm-up step
    warmup_steps: int = 0  # steps of the attacker's warm-up so far
    warmup_phase: str | None = None
    metrics: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    auc: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    roc: tuple[Roc, ...] = ()
    latest: dict[str, float] = field(default_factory=dict)  # newest raw value of each step key
    phase: str | None = None
    step: int = 0
    total: int = 0
    epoch: int | None = None
    epochs: int | None = None
    rate: float | None = None  # steps per second in the current phase
    eta: float | None = None  # seconds left in the current phase, as of `last_t`
    first_t: float | None = None
    last_t: float | None = None
    status: str | None = None
    error: str | None = None
    job: str | None = None  # the inner job running now (e.g. a compare cell: `dau seed 1`)
    job_phase: str | None = None
    job_step: int = 0
    job_total: int = 0
    logs: tuple[tuple[str, str], ...] = ()  # (level, message), newest last
    result: dict[str, Any] = field(default_factory=dict)
    steps_version: int = 0
    epochs_version: int = 0
    roc_version: int = 0
    verdict: Verdict | None = None  # the latest verdict, once one is given
    verdicts: tuple[Verdict, ...] = ()  # every verdict, in the order given (the demo judges four models)


class RunModel:
    """Folds a run's events into bounded series. Unknown types and bad values are skipped."""

    def __init__(self, limit: int = SERIES_LIMIT) -> None:
        self.limit = limit
        self.events = 0
        self.unknown = 0
        self.dau = False
        self.steps: dict[str, Series] = {}
        self.warmup: dict[str, Series] = {}
        self.warmup_steps = 0
        self.warmup_phase: str | None = None
        self.metrics: dict[str, Series] = {}
        self.auc: dict[str, Series] = {}
        self.roc: dict[tuple[str, str], Roc] = {}
        self.latest: dict[str, float] = {}
        self.phase: str | None = None
        self.step = 0
        self.total = 0
        self.epoch: int | None = None
        self.epochs: int | None = None
        self.status: str | None = None
        self.error: str | None = None
        self.job: str | None = None
        self.job_phase: str | None = None
        self.job_step = 0
        self.job_total = 0
        self.logs: deque[tuple[str, str]] = deque(maxlen=20)
        self.result: dict[str, Any] = {}
        self.first_t: float | None = None
        self.last_t: float | None = None
        # x positions run on across phases, so a run with several loops draws one curve
        self._step_x = 0
        self._step_base = 0
        self._step_phase: str | None = None
        self._step_prev = 0
        self._epoch_x = 0
        self._epoch_base = 0
        self._epoch_phase: str | None = None
        self._epoch_prev = -1
        # timing of the current phase, for the rate and ETA
        self._rate_t0: float | None = None
        self._rate_s0 = 0
        self.rate: float | None = None
        self.steps_version = 0
        self.epochs_version = 0
        self.roc_version = 0
        self.verdicts: list[Verdict] = []

    # -- folding

    def apply_all(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            self.apply(ev)

    def apply(self, ev: dict[str, Any]) -> None:
        self.events += 1
        t = finite(ev.get("t"))
        if t is not None:
            self.first_t = t if self.first_t is None else self.first_t
            self.last_t = t
        if "job" in ev and ev.get("type") in ("phase", "step"):
            self._on_job(ev)  # an inner job's loop: its own progress line, not the run's
            return
        handler = self._HANDLERS.get(ev.get("type"))  # type: ignore[arg-type]
        if handler is None:
            self.unknown += 1
            return
        try:
            handler(self, ev, t)
        except (TypeError, ValueError, AttributeError):
            self.unknown += 1  # a known type with malformed fields: skip it, keep going

    def _on_job(self, ev: dict[str, Any]) -> None:
        self.job = str(ev["job"])
        phase = ev.get("phase")
        if ev.get("type") == "phase" or phase != self.job_phase:
            self.job_phase = str(phase) if phase is not None else None
            self.job_step = 0
        step, total = finite(ev.get("step")), finite(ev.get("total"))
        if step is not None:
            self.job_step = int(step)
        if total is not None:
            self.job_total = int(total)

    def _on_status(self, ev: dict[str, Any], t: float | None) -> None:
        status = ev.get("status")
        if isinstance(status, str):
            self.status = status
        if isinstance(ev.get("error"), str):
            self.error = ev["error"]

    def _on_log(self, ev: dict[str, Any], t: float | None) -> None:
        level = ev.get("level") if isinstance(ev.get("level"), str) else "info"
        self.logs.append((level, str(ev.get("message", ""))))

    def _on_phase(self, ev: dict[str, Any], t: float | None) -> None:
        self.phase = str(ev.get("phase") or "")
        self.total = int(finite(ev.get("total")) or 0)
        self.epochs = int(ev["epochs"]) if finite(ev.get("epochs")) is not None else None
        self.step, self.epoch = 0, None
        self._rate_t0, self._rate_s0, self.rate = t, 0, None

    def _on_step(self, ev: dict[str, Any], t: float | None) -> None:
        step = int(finite(ev.get("step")) or 0)
        phase = ev.get("phase", self.phase)
        warm = is_warmup(phase)
        if phase != self._step_phase or step <= self._step_prev:
            if not warm:
                self._step_base = self._step_x
            self._step_phase = phase
            if phase != self.phase:  # a loop that announced no phase event
                self.phase = phase if isinstance(phase, str) else self.phase
                self._rate_t0, self._rate_s0, self.rate = None, 0, None
        self._step_prev = step
        if warm:  # its own series, on its own axis
            x, table = step, self.warmup
            self.warmup_steps, self.warmup_phase = max(self.warmup_steps, step), str(phase)
        else:
            x, table = self._step_base + step, self.steps
            self._step_x = x
        self.step = step
        total = finite(ev.get("total"))
        if total:
            self.total = int(total)
        if finite(ev.get("epoch")) is not None:
            self.epoch = int(ev["epoch"])
        for key in STEP_KEYS:
            y = finite(ev.get(key))
            if y is not None:
                series = table.get(key)
                if series is None:
                    series = table[key] = Series(self.limit)
                series.add(x, y)
                self.latest[key] = y
        for key in ("images_per_s", "attacker_acc"):
            y = finite(ev.get(key))
            if y is not None:
                self.latest[key] = y
        if "attacker_loss" in ev or "defender_loss" in ev:
            self.dau = True
        if t is not None:
            if self._rate_t0 is None:
                self._rate_t0, self._rate_s0 = t, step
            elif t > self._rate_t0 and step > self._rate_s0:
                self.rate = (step - self._rate_s0) / (t - self._rate_t0)
        self.steps_version += 1

    def _on_epoch(self, ev: dict[str, Any], t: float | None) -> None:
        epoch = int(finite(ev.get("epoch")) or 0)
        phase = ev.get("phase", self.phase)
        if phase != self._epoch_phase or epoch <= self._epoch_prev:
            self._epoch_base = self._epoch_x
            self._epoch_phase = phase
        self._epoch_prev = epoch
        x = self._epoch_base + epoch
        self._epoch_x = x
        self.epoch = epoch
        if finite(ev.get("epochs")) is not None:
            self.epochs = int(ev["epochs"])
        for table, values in ((self.metrics, ev.get("metrics")), (self.auc, ev.get("auc"))):
            if not isinstance(values, dict):
                continue
            for name, value in values.items():
                y = finite(value)
                if y is None:
                    continue
                series = table.get(name)
                if series is None:
                    series = table[name] = Series(self.limit)
                series.add(x, y)
        self.epochs_version += 1

    def _on_roc(self, ev: dict[str, Any], t: float | None) -> None:
        fpr, tpr = ev.get("fpr"), ev.get("tpr")
        if not isinstance(fpr, list) or not isinstance(tpr, list):
            return
        pts = [(float(a), float(b)) for a, b in zip(fpr, tpr) if finite(a) is not None and finite(b) is not None]
        attack, pair = str(ev.get("attack", "?")), str(ev.get("pair", ""))
        self.roc[(attack, pair)] = Roc(
            attack, pair, tuple(p[0] for p in pts), tuple(p[1] for p in pts), finite(ev.get("auc"))
        )
        self.roc_version += 1

    def _on_verdict(self, ev: dict[str, Any], t: float | None) -> None:
        """The audit's verdict. Fields that are neither numbers nor words are left out; a verdict
        that is not a word makes the event malformed (counted as unknown)."""
        verdict = ev.get("verdict")
        if not isinstance(verdict, str) or not verdict:
            raise ValueError("a verdict event without a verdict")
        reasons = ev.get("reasons")
        reasons = tuple(str(r) for r in reasons) if isinstance(reasons, list) else ()
        tests = []
        for name, fields in (ev.get("tests") or {}).items() if isinstance(ev.get("tests"), dict) else ():
            if not isinstance(fields, dict):
                continue
            kept: dict[str, float | str] = {}
            for key, value in fields.items():
                number = finite(value)
                if number is not None:
                    kept[str(key)] = number
                elif isinstance(value, str):
                    kept[str(key)] = value
            tests.append((str(name), kept))
        model = next((ev[k] for k in ("model", "checkpoint") if isinstance(ev.get(k), str) and ev[k]), None)
        self.verdicts.append(Verdict(verdict, reasons, tuple(tests), model))

    def _on_result(self, ev: dict[str, Any], t: float | None) -> None:
        if isinstance(ev.get("metrics"), dict):
            self.result.update(ev["metrics"])

    _HANDLERS = {
        "status": _on_status,
        "log": _on_log,
        "phase": _on_phase,
        "step": _on_step,
        "epoch": _on_epoch,
        "roc": _on_roc,
        "result": _on_result,
        "verdict": _on_verdict,
    }

    # -- reading

    @property
    def eta(self) -> float | None:
        if self.rate and self.total and self.step < self.total:
            return (self.total - self.step) / self.rate
        return None

    @property
    def verdict(self) -> Verdict | None:
        return self.verdicts[-1] if self.verdicts else None

    def snapshot(self) -> RunSnapshot:
        return RunSnapshot(
            events=self.events,
            unknown=self.unknown,
            dau=self.dau,
            steps={k: s.points() for k, s in self.steps.items()},
            warmup={k: s.points() for k, s in self.warmup.items()},
            warmup_steps=self.warmup_steps,
            warmup_phase=self.warmup_phase,
            metrics={k: s.points() for k, s in self.metrics.items()},
            auc={k: s.points() for k, s in self.auc.items()},
            roc=tuple(self.roc.values()),
            latest=dict(self.latest),
            phase=self.phase,
            step=self.step,
            total=self.total,
            epoch=self.epoch,
            epochs=self.epochs,
            rate=self.rate,
            eta=self.eta,
            first_t=self.first_t,
            last_t=self.last_t,
            status=self.status,
            error=self.error,
            job=self.job,
            job_phase=self.job_phase,
            job_step=self.job_step,
            job_total=self.job_total,
            logs=tuple(self.logs),
            result=dict(self.result),
            steps_version=self.steps_version,
            epochs_version=self.epochs_version,
            roc_version=self.roc_version,
            verdict=self.verdict,
            verdicts=tuple(self.verdicts),
        )
