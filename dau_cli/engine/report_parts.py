"""The parts of `dau audit --report`'s page (engine/report.py) that only restate records: the
literature's metrics (labelled as such: they are not the verdict), the lineage and the files with
their digests, the command line and versions; and the page's style sheet. Every text is escaped."""

from __future__ import annotations

from html import escape

CSS = """
body { margin: 0; background: #f6f8fa; color: #1f2328; font: 15px/1.5 system-ui, -apple-system, "Segoe UI",
  Helvetica, Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 2px; }
h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 22px 0 4px; }
.sub, .against, .note { color: #57606a; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 13px; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: 10px 12px; white-space: pre-wrap;
  word-break: break-all; }
.verdict { border: 3px solid; border-radius: 8px; padding: 12px 20px 8px; margin: 18px 0; }
.verdict h2 { border: 0; margin-top: 8px; }
.label { margin: 0; text-transform: uppercase; letter-spacing: .08em; color: #57606a; font-size: 13px; }
.word { margin: 0; font-size: 40px; font-weight: 700; line-height: 1.2; }
.meaning { font-size: 17px; margin: 6px 0; }
.reasons li { margin-bottom: 6px; }
.missing { background: #fff8c5; border-left: 4px solid #d4a72c; padding: 6px 10px; }
.test img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
.numbers { font-size: 14px; color: #424a53; }
.status { font-size: 13px; font-weight: 600; padding: 1px 8px; border-radius: 10px; margin-left: 8px;
  color: #fff; background: #57606a; }
.status.above { background: #cf222e; } .status.below { background: #9a6700; } .status.pass { background: #1a7f37; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.facts th { width: 190px; }
.digest { word-break: break-all; }
"""

ATTACK_PAIRS = {"forget_vs_val": "forget set (members) vs unseen images of the same classes",
                "retain_vs_test": "retain set (members) vs test images"}
LOW_FPRS = ("0.001", "0.01", "0.1")  # engine/roc.py's LOW_FPRS, as the report's keys


def _pct(x: float | None) -> str:
    return "—" if x is None or x != x else f"{x:.2f}"


def _mia(report: dict, statistic: str) -> str:
    v = _pct(report["mia_efficacy_by_statistic"].get(statistic))
    lo_hi = (report.get("mia_efficacy_interval") or {}).get(statistic)
    if not lo_hi:
        return v
    unstable = " (unstable)" if statistic in report.get("mia_efficacy_unstable", []) else ""
    return f"{v} [{lo_hi[0]:.0f}–{lo_hi[1]:.0f}]{unstable}"


def _metric_rows(report: dict) -> list[tuple[str, str]]:
    class_mode = report["forget"]["mode"] == "class"
    rows = [("UA: 100 − forget-set accuracy", "ua"), ("RA: retain-set accuracy", "ra"),
            ("TA: test accuracy, other classes" if class_mode else "TA: test accuracy", "ta")]
    if class_mode:
        rows.append(("test accuracy, forgotten classes", "forgotten_test_acc"))
    rows += [("validation accuracy", "val_acc"), ("MIA-Efficacy (confidence)", "mia_efficacy")]
    rows += [(f"MIA-Efficacy ({s.replace('_', ' ')})", f"mia:{s}") for s in report["mia_efficacy_by_statistic"]
             if s != "confidence"]
    return rows


def literature_section(report: dict) -> str:
    """UA, RA, TA, MIA-Efficacy with its bootstrap interval and the threshold attacks: the
    literature's numbers, which the verdict does not use."""
    ref = report.get("reference")
    head = "<tr><th>metric (%)</th><th>audited model</th>" + (
        "<th>reference</th><th>difference</th>" if ref else "") + "</tr>"
    rows = []
    for label, key in _metric_rows(report):
        stat = key[4:] if key.startswith("mia:") else ("confidence" if key == "mia_efficacy" else None)
        cells = [_mia(report, stat) if stat else _pct(report.get(key))]
        if ref:
            diff = (report.get("diff") or {}).get(f"mia_efficacy.{stat}" if stat and key != "mia_efficacy" else key)
            cells += [_mia(ref, stat) if stat else _pct(ref.get(key)), "—" if diff is None else f"{diff:+.2f}"]
        rows.append(f"<tr><td>{escape(label)}</td>" + "".join(f"<td class=\"n\">{escape(c)}</td>" for c in cells)
                    + "</tr>")
    if ref and report.get("avg_gap") is not None:
        rows.append(f"<tr><th>Avg. Gap (mean |difference| of UA, RA, TA, MIA-Efficacy)</th><td></td><td></td>"
                    f"<td class=\"n\">{report['avg_gap']:.2f}</td></tr>")
    boot = report.get("mia_bootstrap") or {}
    interval = (f" [low–high]: the central {100 * boot['level']:.0f} % of MIA-Efficacy over {boot['resamples']} "
                f"refits of its SVC on resampled members and non-members." if boot.get("resamples") else "")
    warnings = "".join(f"<li>{escape(w)}</li>" for w in report.get("warnings", []))
    return ("<section>\n<h2>The literature's metrics (not the verdict)</h2>\n"
            "<p class=\"note\">The numbers papers on machine unlearning report (UA, RA, TA and MIA-Efficacy, as in "
            "the Unlearn-Sparse and SalUn line of work). They are given for comparison only: the verdict above "
            "does not use them, because a model can score perfectly on them and still remember (e.g. by lowering "
            f"one output bias).{escape(interval)}</p>\n<table>{head}{''.join(rows)}</table>\n"
            + (f"<ul>{warnings}</ul>\n" if warnings else "") + _attacks(report) + "</section>")


def _attacks(report: dict) -> str:
    """The threshold attacks' AUC, balanced accuracy and TPR at low FPR, one table per pair;
    statistics that rank the samples alike share a row, as in the terminal."""
    parts = []
    for pair, by_stat in (report.get("attacks") or {}).items():
        folded: dict[tuple, list[str]] = {}
        for s, r in by_stat.items():
            row = (f"{r['auc']:.3f}", f"{100 * r['balanced_accuracy']:.1f} %",
                   *(f"{100 * r['tpr_at_fpr'][f]:.1f} %" for f in LOW_FPRS))
            folded.setdefault(row, []).append(s.replace("_", " "))
        head = "".join(f"<th>{h}</th>" for h in ("statistic", "AUC", "balanced accuracy",
                                                  *(f"TPR at FPR {100 * float(f):g} %" for f in LOW_FPRS)))
        body = "".join(f"<tr><td>{escape(' = '.join(names))}</td>"
                       + "".join(f"<td class=\"n\">{escape(c)}</td>" for c in row) + "</tr>"
                       for row, names in folded.items())
        parts.append(f"<h3>Threshold attack: {escape(ATTACK_PAIRS.get(pair, pair))}</h3>\n"
                     f"<table><tr>{head}</tr>{body}</table>\n")
    return "".join(parts)


def record_sections(report: dict, facts: dict) -> list[str]:
    """The model's lineage and the files with their digests; then how to rerun the audit."""
    lineage = "".join(
        f"<tr><td class=\"n\">{i}</td><td>{escape(e['op'])}</td><td>{escape(e['what'])}</td>"
        f"<td>{escape(e['when'])}</td><td>{escape(e['device'])}</td><td>{escape(e['dau'])}</td>"
        f"<td class=\"digest\"><code>{escape(e['digest'])}</code></td></tr>"
        for i, e in enumerate(facts["lineage"], 1))
    chain = " → ".join(e["op"] for e in facts["lineage"]) or "no recorded operation"
    files = "".join(f"<tr><td>{escape(f['role'])}</td><td><code>{escape(f['path'])}</code></td>"
                    f"<td class=\"digest\"><code>{escape(f['digest'])}</code></td></tr>" for f in facts["files"])
    d = facts["data"]
    splits = ", ".join(f"{k} {v:,}" for k, v in d["splits"].items())
    model = ("<section>\n<h2>The model and the files</h2>\n"
             f"<p>How the audited model was made: <strong>{escape(chain)}</strong>.</p>\n"
             "<table><tr><th>#</th><th>operation</th><th>what</th><th>when</th><th>device</th><th>dau</th>"
             f"<th>digest it records</th></tr>{lineage}</table>\n"
             f"<table><tr><th>file</th><th>path</th><th>digest</th></tr>{files}</table>\n"
             f"<p>Data set: <strong>{escape(d['dataset'])}</strong> ({escape(splits)} images); fingerprint of its "
             f"images and labels: <code class=\"digest\">{escape(d['fingerprint'])}</code>.</p>\n</section>")
    versions = ", ".join(f"{k} {v}" for k, v in facts["versions"].items())
    run = facts.get("run_dir")
    rerun = ("<section>\n<h2>Rerun this audit</h2>\n<p>The command, as it was run, from the folder "
             f"<code>{escape(facts['cwd'])}</code>:</p>\n<pre>{escape(facts['command'])}</pre>\n"
             f"<p>dau {escape(facts['version'])} ({escape(versions)}); written {escape(facts['date'])}"
             + (f"; run record <code>{escape(run)}</code>" if run else "") + ".</p>\n</section>")
    return [model, rerun]
