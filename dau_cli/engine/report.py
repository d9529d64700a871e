"""`dau audit --report FILE.html`: the audit as one page someone who never used dau can read.

    facts = report_facts(ckpt, checkpoint, reference, forget, report, sys.argv)
    write_report(path, report, facts, samples)   # samples: audit_verdict(..., samples=True)["samples"]

The page comes in the order a reader asks: the verdict and its reasons; what was forgotten (its
description, size and digest); each test's number against the reference models' as a picture
(engine/report_figures.py); the literature's metrics, labelled as such; the model's lineage and
the digests of every file involved; the command line and versions that rerun it.

It stands alone: no script, and no style sheet, font or image from anywhere (images are PNG data
URIs, and the page's Content-Security-Policy forbids loading anything else), so it reads the same
offline or years later. Every text is escaped with `html.escape`. Written atomically by
files.write (a temporary file beside it, then a link or, with --force, os.replace).
"""

from __future__ import annotations

import shlex
import time
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from dau_cli.engine.report_figures import figures_of_tests
from dau_cli.engine.report_parts import CSS, literature_section, record_sections
from dau_cli.files import write
from dau_cli.verdicts import TESTS, VERDICT_STYLE

#: The page's colour of each verdict: VERDICT_STYLE's colour names (verdicts.py), as CSS.
HTML_COLOURS = {"green": "#1a7f37", "red": "#cf222e", "magenta": "#a2369f", "yellow": "#9a6700"}
MEANING = {
    "forgotten": "On every test that could decide, the model behaves like models retrained from scratch "
                 "without the forget set.",
    "not forgotten": "The model's outputs on the forget set still look like those of a model trained on it: "
                     "it remembers.",
    "superficial": "The outputs look forgotten, but the knowledge is still inside: it comes back after a little "
                   "fine-tuning, or the model's internal features still recognise the forget set.",
    "over-forgotten": "The model treats the forget set as less familiar than a retrained model does: its outputs "
                      "were pushed further than retraining goes, which itself gives the forget set away.",
    "no reference": "dau has no (or too few) models retrained without the forget set to compare with, so it "
                    "cannot say whether the model forgot. The reasons say how to get them.",
}
EXPLAIN = {
    "output": "For each forgotten sample: how confident is the model in its true label, compared with models "
              "retrained without the forget set? A z-score of 0 is a typical retrained model; far above means the "
              "model still recognises the sample, far below that its outputs were pushed down further than "
              "retraining goes.",
    "lira": "A membership attack (LiRA): does each forgotten sample's confidence look more like that of models "
            "trained on it or of models that never saw it? The curve shows how well the attack tells the audited "
            "model's samples from a retrained model's; on the dotted diagonal it cannot tell them apart.",
    "relearn": "A copy of the model is fine-tuned for a few steps on 10 forgotten samples; how much of the other "
               "forgotten samples comes back? Knowledge that was only hidden returns faster than in a retrained "
               "model.",
    "probe": "A linear classifier on the model's internal features, trained on other images, labels the forgotten "
             "samples. If the features still recognise them better than a retrained model's do, the data is "
             "still in the model.",
}
STATUS_WORDS = {"above": "ABOVE retrained models", "below": "BELOW retrained models", "pass": "like retrained models",
                "undecided": "cannot decide"}
NUMBER = {"output": ("mean z-score", ".2f", ""), "lira": ("trimmed mean log-likelihood ratio", ".2f", ""),
          "relearn": ("accuracy after the last step", ".0f", " %"), "probe": ("probe accuracy", ".0f", " %")}


def colour(verdict: str) -> str:
    return HTML_COLOURS.get(VERDICT_STYLE.get(verdict, "bold").split()[-1], "#57606a")


# ----------------------------------------------------------------------------- what the page states


def command_line(argv: list[str]) -> str:
    """`argv` shell-quoted as a person reruns it: the console script by its name (`dau`), and
    `python -m dau_cli` for the module."""
    argv = [str(a) for a in argv]
    if argv and Path(argv[0]).name == "dau":
        argv[0] = "dau"
    elif argv and argv[0].endswith("__main__.py"):
        argv[:1] = ["python", "-m", "dau_cli"]
    return shlex.join(argv)


def report_facts(ckpt: dict, checkpoint: Path, reference: Path | None, forget: Any, report: dict,
                 argv: list[str]) -> dict[str, Any]:
    """Everything the page says besides the audit's numbers: the forget set and its digest, the
    lineage, the files and their digests, the data set, the command line, versions and date."""
    import dau_cli
    from dau_cli.engine.audit import recorded_forget
    from dau_cli.engine.checkpoint import versions
    from dau_cli.engine.importing import sha256_of
    from dau_cli.engine.references import indices_digest

    indices = sorted(int(i) for i in forget.indices.tolist())
    digest = indices_digest(indices)
    recorded = recorded_forget(ckpt)
    source = ("recorded in the checkpoint's lineage (its last forget operation)"
              if recorded is not None and recorded.get("forget_indices") is not None
              and indices_digest(recorded["forget_indices"]) == digest else "chosen on the command line")
    files = [{"role": "audited checkpoint", "path": str(checkpoint.resolve()), "digest": sha256_of(checkpoint)}]
    if reference is not None:
        files.append({"role": "reference checkpoint (retrained without the forget set)",
                      "path": str(reference.resolve()), "digest": sha256_of(reference)})
    bank = (report.get("references") or {}).get("bank")
    if bank:
        files.append({"role": "reference bank folder", "path": str(bank),
                      "digest": f"{Path(bank).name} (dataset, splits, architecture and recipe); its models "
                                f"without this forget set: out-{digest}/"})
    d = ckpt.get("data") or {}
    return {"checkpoint": checkpoint.name, "forget": {"words": describe_forget(report["forget"]),
                                                      "size": len(indices), "digest": digest,
                                                      "indices": indices, "source": source},
            "lineage": [lineage_row(e) for e in ckpt.get("lineage", [])], "files": files,
            "data": {"dataset": d.get("dataset", "?"), "fingerprint": d.get("fingerprint") or "not recorded",
                     "splits": {s: len(v) for s, v in (d.get("splits") or {}).items()}},
            "command": command_line(argv), "cwd": str(Path.cwd()), "version": dau_cli.__version__,
            "versions": versions(), "date": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")}


def describe_forget(f: dict) -> str:
    if f["mode"] == "class":
        return f"every training image of class {', '.join(map(str, f['classes']))}"
    if f["mode"] == "random":
        return f"a random {100 * f['fraction']:g} % of the training images (seed {f['seed']})"
    return "a list of training images given by their positions in the data set"


def lineage_row(e: dict) -> dict[str, str]:
    """One operation of the lineage: what it did, when, and the digest it records."""
    from dau_cli.engine.references import indices_digest

    op, c = e.get("op", "?"), e.get("config") or {}
    what, digest = "", ""
    if op == "train":
        what = (f"{(c.get('model') or {}).get('arch', '')} on {(c.get('data') or {}).get('dataset', '')}, "
                f"{(c.get('train') or {}).get('epochs', '?')} epochs, seed {(c.get('train') or {}).get('seed', '?')}")
    elif op == "import":
        what, digest = f"weights from {Path(str(e.get('file', '?'))).name}", str(e.get("sha256", ""))
    elif op == "prune":
        what = f"{e.get('method')} to {100 * (e.get('sparsity') or 0):.1f} % sparsity"
    elif op == "forget":
        f = e.get("forget") or {}
        size = f.get("size", len(e["forget_indices"]) if e.get("forget_indices") is not None else "?")
        what = f"{size} samples ({f.get('mode', 'listed')}) with {e.get('method')}, seed {e.get('seed', 0)}"
        if e.get("forget_indices") is not None:
            digest = f"forget set {indices_digest(e['forget_indices'])}"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["time"])) if e.get("time") else ""
    return {"op": op, "what": what, "when": when, "device": str(e.get("device", "")),
            "dau": str((e.get("versions") or {}).get("dau", "")), "digest": digest}


# ----------------------------------------------------------------------------- the page


def render(report: dict, facts: dict, samples: dict | None = None) -> str:
    """The whole page, as text."""
    tests = report.get("tests") or {}
    figures = figures_of_tests(tests, samples)
    body = "\n".join([_verdict_section(report), _forget_section(facts),
                      _tests_section(tests, figures), literature_section(report), *record_sections(report, facts)])
    title = escape(f"dau audit: {facts['checkpoint']}: {report.get('verdict', '')}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            f"style-src 'unsafe-inline'\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            f"<h1>Unlearning audit of <code>{escape(facts['checkpoint'])}</code></h1>\n"
            f"<p class=\"sub\">dau {escape(facts['version'])}, {escape(facts['date'])}</p>\n{body}\n</main>\n"
            f"</body>\n</html>\n")


def _verdict_section(report: dict) -> str:
    v = report.get("verdict", "no reference")
    refs = report.get("references") or {}
    against = (f"against {refs['out']} models retrained without the forget set and {refs['in']} trained with it"
               if refs.get("out") else "no reference models to compare with")
    reasons = "".join(f"<li>{escape(r)}</li>" for r in report.get("reasons", []))
    missing = "" if report.get("tests") else (
        "<p class=\"missing\">This audit has no verdict: the tests below need reference models, and none were "
        "available. The page shows what there is: the forget set, the literature's metrics and the files.</p>")
    return (f"<section class=\"verdict\" style=\"border-color:{colour(v)}\">\n<p class=\"label\">Verdict</p>\n"
            f"<p class=\"word\" style=\"color:{colour(v)}\">{escape(v)}</p>\n"
            f"<p class=\"meaning\">{escape(MEANING.get(v, ''))}</p>\n<p class=\"against\">{escape(against)}</p>\n"
            f"<h2>Why</h2>\n<ul class=\"reasons\">{reasons}</ul>\n{missing}</section>")


def _forget_section(facts: dict) -> str:
    f = facts["forget"]
    listing = "".join(f"{i}\n" for i in f["indices"]).encode()
    import base64

    href = "data:text/plain;base64," + base64.b64encode(listing).decode("ascii")
    return (f"<section>\n<h2>What was to be forgotten</h2>\n<table class=\"facts\">"
            f"<tr><th>forget set</th><td>{escape(f['words'])}</td></tr>"
            f"<tr><th>size</th><td>{f['size']:,} training images</td></tr>"
            f"<tr><th>digest of its indices</th><td><code>{escape(f['digest'])}</code> (SHA-256 of the sorted "
            f"positions, as dau names its reference folders)</td></tr>"
            f"<tr><th>where it comes from</th><td>{escape(f['source'])}</td></tr>"
            f"<tr><th>the positions</th><td><a download=\"forget-indices.txt\" href=\"{href}\">forget-indices.txt"
            f"</a> (one a line, as <code>dau audit --indices</code> reads them)</td></tr></table>\n</section>")


def _tests_section(tests: dict, figures: dict) -> str:
    if not tests:
        return ("<section>\n<h2>The four tests</h2>\n<p class=\"missing\">Not run: there are no reference models "
                "to compare with, so there are no pictures of the tests.</p>\n</section>")
    parts = ["<section>\n<h2>The four tests, each against models retrained without the forget set</h2>\n"
             "<p>Each test puts one number of the audited model among the same number of reference models "
             "that never saw the forget set. A retrained model lands outside their 99 % prediction interval about "
             "once in a hundred.</p>"]
    for name, label in TESTS.items():
        t = tests.get(name)
        if t is None:
            continue
        status = t.get("status", "undecided")
        picture = (f"<img src=\"{figures[name]}\" alt=\"{escape(label.title)}: the audited model against the "
                   f"reference models\">" if figures.get(name) else
                   f"<p class=\"missing\">No picture: {escape(t.get('why') or 'nothing to draw')}.</p>")
        parts.append(f"<div class=\"test\">\n<h3>{escape(label.title)} <span class=\"status {escape(status)}\">"
                     f"{escape(STATUS_WORDS.get(status, status))}</span></h3>\n<p>{escape(EXPLAIN[name])}</p>\n"
                     f"{picture}\n<p class=\"numbers\">{escape(_numbers(name, t))}</p>\n</div>")
    return "\n".join(parts) + "\n</section>"


def _numbers(name: str, t: dict) -> str:
    if "reference_mean" not in t:
        return t.get("why", "")
    label, fmt, unit = NUMBER[name]
    lo, hi = t["interval"]
    return (f"{label}: audited model {t['value']:{fmt}}{unit}; retrained models {t['reference_mean']:{fmt}}{unit} "
            f"± {t['reference_sd']:{fmt}}{unit} over {t['references']}; 99 % interval {lo:{fmt}} to {hi:{fmt}}{unit}")


def write_report(path: str | Path, report: dict, facts: dict, samples: dict | None = None,
                 force: bool = False) -> Path:
    """Render the page and write it atomically to `path` (create-or-fail; `force` replaces)."""
    data = render(report, facts, samples).encode("utf-8")
    return write(path, lambda f: f.write(data), force)
