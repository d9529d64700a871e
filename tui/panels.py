"""The run screen's panels as text: the verdicts, each naming its model, the GPU or CPU strip, and
the latest numbers of the charts there is no room for; fitted to a width without cutting a number.

The verdicts' and tests' names and colours are dau_cli.verdicts', the same as the terminal's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.text import Text

from dau_cli.runs import model_name
from dau_cli.verdicts import TESTS, styled_verdict

from .fit import Piece, bar, clip_text, clip_words, join_pieces, piece
from .gpu import GpuSample
from .host import HostSample
from .model import Verdict

TEST_STATUS = {"above": ("above refs", "red"), "below": ("below refs", "yellow"), "pass": ("like refs", "green"),
               "undecided": ("undecided", "dim")}
#: Files a run's outputs name that are models (the demo writes one per model it judges).
MODEL_FILES = (".pt", ".pth", ".safetensors")


def _num(value: Any, unit: str = "") -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    return f"{value:.1f}{unit}" if abs(value) >= 10 else f"{value:.2f}{unit}"


def verdict_names(verdicts: Sequence[Verdict], info: dict[str, Any] | None) -> list[str]:
    """The model each verdict judged, by its file where one is known: the event's own `model` when
    it is a file, else the run's: its checkpoint where it judged one model (`dau audit`), the
    outputs' model files in order where it judged as many as it wrote (`dau demo`: original, dau,
    retrain, fake); else the event's words for a model without a file (`cnn after dau`, a compare
    cell's `dau seed 0 (dense)`); else, of several, `model N` in the order they came."""
    info = info or {}
    outputs = info.get("outputs") if isinstance(info.get("outputs"), dict) else {}
    files = [k for k, v in outputs.items() if isinstance(v, str) and v.endswith(MODEL_FILES)]
    checkpoint = model_name(info)
    if len(verdicts) == 1 and checkpoint.endswith(MODEL_FILES):
        known = [checkpoint]
    elif len(files) == len(verdicts):
        known = files
    else:
        known = [""] * len(verdicts)
    unnamed = [f"model {i + 1}" for i in range(len(verdicts))] if len(verdicts) > 1 else [""]
    return [Path(v.model).name if v.model and v.model.endswith(MODEL_FILES) else name or v.model or none
            for v, name, none in zip(verdicts, known, unnamed)]


def verdict_text(verdict: Verdict, width: int = 200, name: str = "") -> Text:
    """One verdict (a `model.Verdict`) as lines: the model, the verdict and its first reason, then
    one line per reference test: where the model falls, its value, the references' mean ± sd and
    how many there are, and the AUC where the test has one (or why it could not decide)."""
    head = Text("verdict ", "bold")
    if name:
        head.append(f"of {name} ", "bold")
    head.append_text(styled_verdict(verdict.verdict, upper=True))
    if verdict.reasons:
        head.append("  " + clip_words(verdict.reasons[0], max(width - head.cell_len - 2, 1)))
    out = clip_text(head, width)
    for test, t in verdict.tests:
        label, style = TEST_STATUS.get(str(t.get("status")), (str(t.get("status", "?")), ""))
        pieces = [piece(f"  {clip_words(TESTS[test].short if test in TESTS else test, 18):<18}", 0, gap=0),
                  piece(f"{label:<11}", 0, style, gap=1)]
        if isinstance(t.get("why"), str) and t.get("status") == "undecided":
            pieces.append(piece(t["why"], 0, "dim", gap=1))
        else:
            unit = " %" if test in ("relearn", "probe") else ""
            pieces.append(piece(f"{_num(t.get('value'), unit):>7}", 0, gap=1))
            if "reference_mean" in t:
                refs = f"refs {_num(t.get('reference_mean'))} ± {_num(t.get('reference_sd'))}{unit}"
                pieces.append(piece(refs, 2, "dim", gap=3))
            if isinstance(t.get("references"), (int, float)):
                pieces.append(piece(f"(n={int(t['references'])})", 3, "dim", gap=1))
            if "auc" in t:
                pieces.append(piece(f"AUC {_num(t.get('auc'))}", 1, gap=3))
        out.append("\n")
        out.append_text(join_pieces(pieces, width))
    return out


def verdicts_text(verdicts: Sequence[Verdict], info: dict[str, Any] | None, width: int = 200, most: int = 6) -> Text:
    """The verdict panel: one verdict with its tests, or several (the demo's four models) one line
    each, in the order they were given, each named and in its colour; at most `most` lines."""
    names = verdict_names(verdicts, info)
    if len(verdicts) == 1:
        return verdict_text(verdicts[0], width, names[0])
    shown = list(zip(names, verdicts))
    lines = []
    if len(shown) > most:
        lines.append(Text(f"… {len(shown) - most + 1} earlier verdicts", "dim"))
        shown = shown[len(shown) - most + 1 :]
    pad = min(max(len(n) for n, _ in shown), 20)
    for name, v in shown:
        line = Text(f"{clip_words(name, pad):<{pad}}  ", "bold")
        line.append_text(styled_verdict(v.verdict, upper=True))
        line.append(" " * (15 - len(v.verdict)))
        if v.reasons:
            line.append(clip_words(v.reasons[0], max(width - line.cell_len, 1)))
        lines.append(clip_text(line, width))
    return Text("\n").join(lines)


# ----------------------------------------------------------------------------- the strip

GIB = 2**30


def _gib(n: int) -> str:
    return f"{n / GIB:.1f}"


def _size(n: int) -> str:
    """A job's memory: `5.0 GiB`, or `310 MiB` below a GiB."""
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / 2**20:.0f} MiB"


def gpu_pieces(s: GpuSample, job: int | None) -> list[Piece]:
    """One GPU, the parts that give way first ranked highest: its name, then the bars."""
    mem = s.mem_used / s.mem_total * 100 if s.mem_total else 0.0
    pieces = [piece(f"GPU{s.index}", 0, "bold"), piece(s.name, 6, "dim", gap=1), piece("util", 0),
              Piece(bar(s.util, 10), 4, 1), piece(f"{s.util:.0f}%", 0, gap=1), piece("mem", 0, gap=3),
              Piece(bar(mem, 10), 4, 1), piece(f"{_gib(s.mem_used)}/{_gib(s.mem_total)} GiB", 0, gap=1)]
    if job is not None:
        pieces.append(piece(f"job {_size(job)}", 1, "bold", gap=3))
    return pieces


def host_pieces(h: HostSample | None) -> list[Piece]:
    """The machine without a GPU: CPU use, memory in use, the job's own memory, the load."""
    pieces = [piece("no GPU", 0, "dim")]
    if h is None:
        return pieces
    pieces += [piece("CPU", 0, "bold", gap=3)]
    if h.cpu is not None:
        pieces += [Piece(bar(h.cpu, 10), 4, 1), piece(f"{h.cpu:.0f}%", 0, gap=1)]
    else:
        pieces.append(piece("…", 0, "dim", gap=1))
    pieces.append(piece(f"({h.cpus} cores)", 5, "dim", gap=1))
    if h.mem_total:
        used = h.mem_used or 0
        pieces += [piece("mem", 0, gap=3), Piece(bar(used / h.mem_total * 100, 10), 4, 1),
                   piece(f"{_gib(used)}/{_gib(h.mem_total)} GiB", 0, gap=1)]
    if h.job_rss is not None:
        pieces.append(piece(f"job {_size(h.job_rss)}", 1, "bold", gap=3))
    if h.load is not None:
        pieces.append(piece(f"load {h.load:.2f}", 3, gap=3))
    return pieces


def strip_text(samples: Sequence[GpuSample] | None, host: HostSample | None, pid: int | None,
               width: int = 200) -> Text:
    """The strip: each GPU (and the job's memory on it), or without one the CPU and memory."""
    if not samples:
        return join_pieces(host_pieces(host), width)
    pieces: list[Piece] = []
    for i, s in enumerate(samples):
        part = gpu_pieces(s, s.memory_of(pid) if pid is not None else None)
        if i:  # a later GPU gives way after the names and bars, before the first GPU's numbers
            part = [Piece(p.text, p.rank or 1 + i, p.gap + (2 if j == 0 else 0)) for j, p in enumerate(part)]
        pieces += part
    return join_pieces(pieces, width)


def strip_plain(samples: Sequence[GpuSample] | None, host: HostSample | None, pid: int | None) -> str:
    """The strip in words, unfitted (for tests and logs)."""
    if not samples:
        out = "no GPU"
        if host is not None:
            out += f"  CPU {'…' if host.cpu is None else f'{host.cpu:.0f}%'}"
            if host.mem_total:
                out += f" mem {_gib(host.mem_used or 0)}/{_gib(host.mem_total)} GiB"
            if host.job_rss is not None:
                out += f" job {_size(host.job_rss)}"
        return out
    parts = []
    for s in samples:
        line = f"GPU{s.index} {s.name} util {s.util:.0f}% mem {_gib(s.mem_used)}/{_gib(s.mem_total)} GiB"
        job = s.memory_of(pid) if pid is not None else None
        if job is not None:
            line += f" job {_size(job)}"
        parts.append(line)
    return "   ".join(parts)


# ----------------------------------------------------------------------------- numbers for hidden charts


def numbers_text(groups: Sequence[tuple[str, Sequence[tuple[str, str]]]], width: int, lines: int = 1) -> Text:
    """The latest numbers of the charts there is no room for: `groups` are (chart, [(label, value)]),
    the ones that matter most first; on one line (the later groups leave first) or one per line."""
    parts = []
    for title, values in groups:
        part = Text(title, "bold")
        for label, value in values:
            part.append(f" {label} ", "dim")
            part.append(value)
        parts.append(part)
    if lines > 1:
        return Text("\n").join(clip_text(p, width) for p in parts[:lines])
    return join_pieces([Piece(p, i, 3) for i, p in enumerate(parts)], width)
