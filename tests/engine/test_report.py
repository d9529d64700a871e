"""`dau audit --report`'s page (engine/report.py): rendered from a tiny real audit with a verdict
judged on synthetic reference numbers (the judge is pure, so no bank is trained), read as text,
then opened in headless Chromium where it is installed."""

from __future__ import annotations

import base64
import re
import time

import numpy as np
import pytest

from chromium import EXECUTABLE, Chromium

K = 6  # reference models of the synthetic bank
ARGV = ["/opt/venv/bin/dau", "audit", "my model.pt", "--references", "6", "--report", "out/audit.html"]


@pytest.fixture(scope="module")
def audited(tiny_ckpt):
    """(checkpoint, forget set, the tiny model's real audit report)."""
    from dau_cli.engine.audit import audit, forget_set_for_audit
    from dau_cli.engine.checkpoint import load_checkpoint, restore

    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt)
    forget = forget_set_for_audit(ckpt, data, classes="3")
    return ckpt, forget, audit(model, data, forget, bootstrap=5)


def judged(n: int) -> tuple[dict, dict]:
    """A verdict and its per-sample arrays from synthetic references: outputs like retraining, but
    the forget set relearned fast (superficial)."""
    from dau_cli.engine.verdict import References, Tampering, judge, per_sample

    rng = np.random.default_rng(0)
    mu = rng.normal(-5, 3, n)

    def models(k: int, shift: float = 0.0) -> np.ndarray:
        return mu + shift + rng.normal(0, 0.3, (k, 1)) + rng.normal(0, 1.0, (k, n))

    def tampered(recovered: float, probe: float) -> dict:
        return {"relearn": {"steps": [0, 10, 20, 40], "forget_acc": [0.0, recovered / 4, recovered / 2, recovered]},
                "probe": {"forget_acc": probe}}

    refs, audited = References(models(K), models(K, shift=1.5)), models(1)[0]
    theirs = [tampered(r, 50.0 + r) for r in (2.0, 0.0, 5.0, 1.0)]
    return judge(audited, refs, Tampering(tampered(90.0, 52.0), theirs)), per_sample(audited, refs)


@pytest.fixture(scope="module")
def page(audited, tiny_ckpt, tmp_path_factory):
    """(path of the written page, its text, facts, seconds to render and write it)."""
    from dau_cli.engine.report import report_facts, write_report

    ckpt, forget, literature = audited
    result, samples = judged(len(forget.indices))
    report = {**literature, **result,
              "references": {"out": K, "in": K, "tamper": 4, "bank": "/home/u/.dau/bank/aaf4e0d5752ec108"}}
    facts = {**report_facts(ckpt, tiny_ckpt, None, forget, report, ARGV), "run_dir": "/home/u/.dau/runs/r1"}
    path = tmp_path_factory.mktemp("report") / "audit.html"
    start = time.perf_counter()
    write_report(path, report, facts, samples)
    return path, path.read_text(), facts, time.perf_counter() - start


def test_the_page_says_the_verdict_what_was_forgotten_and_how_to_rerun(page, audited, tiny_ckpt):
    from dau_cli.engine.importing import sha256_of
    from dau_cli.engine.references import indices_digest

    path, text, facts, seconds = page
    _, forget, _ = audited
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert '<p class="word" style="color:#a2369f">superficial</p>' in text  # first, in its colour
    assert text.index("superficial") < text.index("What was to be forgotten") < text.index("The literature")
    assert "relearning: ABOVE retrained models" in text  # the reasons, in words
    assert indices_digest(forget.indices) == facts["forget"]["digest"] and facts["forget"]["digest"] in text
    assert "131 training images" in text and "every training image of class 3" in text
    assert sha256_of(tiny_ckpt) in text and "aaf4e0d5752ec108" in text  # the files' digests
    assert "train" in facts["lineage"][0]["op"] and "fingerprint" in text
    # the command as run (shell-quoted), and dau's version
    assert "dau audit &#x27;my model.pt&#x27; --references 6 --report out/audit.html" in text
    assert "dau 0.1.0" in text
    assert "The literature's metrics (not the verdict)" in text and "MIA-Efficacy (confidence)" in text
    assert re.search(r"\d+\.\d\d \[\d+–\d+\]", text)  # MIA-Efficacy with its interval


def test_the_pictures_are_embedded_and_nothing_is_fetched(page):
    _, text, _, _ = page
    images = re.findall(r'<img src="([^"]*)"', text)
    assert len(images) == 4  # output, LiRA, relearning, probe
    for uri in images:
        assert uri.startswith("data:image/png;base64,")
        assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.IGNORECASE)
    assert "<script" not in text.lower() and "@import" not in text and "url(" not in text
    assert "default-src 'none'" in text  # the page forbids loading anything else


def test_every_text_is_escaped(audited, tiny_ckpt):
    from dau_cli.engine.report import render, report_facts

    ckpt, forget, literature = audited
    report = {**literature, "verdict": "no reference", "reasons": ["<b>bold</b> & co"], "tests": {}}
    facts = report_facts(ckpt, tiny_ckpt, None, forget, report, ["dau", "audit", "<script>alert(1)</script>.pt"])
    text = render(report, {**facts, "checkpoint": "<img src=x onerror=alert(1)>"})
    assert "<script>" not in text and "<b>bold" not in text and "<img src=x" not in text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in text and "&lt;script&gt;alert(1)&lt;/script&gt;.pt" in text


def test_without_a_verdict_the_page_shows_what_there_is_and_says_so(audited, tiny_ckpt):
    from dau_cli.engine.audit_verdict import no_reference
    from dau_cli.engine.report import render, report_facts

    ckpt, forget, literature = audited
    report = {**literature, **no_reference(ckpt, "/home/u/.dau/bank/aaf4e0d5752ec108")}
    text = render(report, report_facts(ckpt, tiny_ckpt, None, forget, report, ["dau", "audit", "x.pt"]))
    assert ">no reference</p>" in text and "--references 16" in text
    assert "This audit has no verdict" in text and "Not run: there are no reference models" in text
    assert "<img" not in text and "UA: 100 − forget-set accuracy" in text


@pytest.mark.skipif(EXECUTABLE is None, reason="Chromium is not installed (apt-get install chromium)")
def test_the_page_renders_in_a_browser_without_errors(page):
    path, _, _, _ = page
    with Chromium() as browser:
        seen = browser.load(path, """({
            images: [...document.images].map(i => ({complete: i.complete, width: i.naturalWidth})),
            height: document.body.scrollHeight,
            overflow: document.documentElement.scrollWidth > window.innerWidth,
            verdict: document.querySelector('.verdict .word').innerText,
            colour: getComputedStyle(document.querySelector('.verdict .word')).color,
        })""")
    assert seen.errors == []
    assert all(u.startswith(("file:", "data:")) for u in seen.requests), seen.requests
    images = seen.value["images"]
    assert len(images) == 4 and all(i["complete"] and i["width"] > 0 for i in images), images
    assert seen.value["verdict"] == "superficial" and seen.value["colour"] == "rgb(162, 54, 159)"
    assert seen.value["height"] > 1000 and not seen.value["overflow"]
