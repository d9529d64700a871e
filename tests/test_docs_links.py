"""The documentation stands alone: every relative link in README.md, CHANGELOG.md and docs/**/*.md
names a file or folder inside the repository (and a heading that exists, where it names one in a
markdown file), and docs/results.md stays a short list of current claims (under 400 lines;
superseded measurements live in docs/experiments/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# [text](target) and ![alt](target), the target up to the first space (a title may follow);
# reference-style definitions: [label]: target
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def documents() -> list[Path]:
    docs = sorted((ROOT / "docs").rglob("*.md"))
    return [p for p in (ROOT / "README.md", ROOT / "CHANGELOG.md") if p.exists()] + docs


def links(text: str) -> list[str]:
    """Relative link targets of a markdown text, outside fenced and inline code."""
    text = code_free(text)
    found = INLINE.findall(text) + REFERENCE.findall(text)
    return [t for t in found if not t.startswith("#") and not EXTERNAL.match(t)]


def code_free(text: str) -> str:
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces to hyphens,
    a repeated heading numbered -1, -2, ..."""
    found, seen = set(), {}
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", code_free(markdown), flags=re.MULTILINE):
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.replace("`", ""))
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


def dead_links(text: str, base: Path) -> list[str]:
    """The relative link targets of `text`, read from folder `base`, that name nothing in the repository."""
    bad = []
    for target in links(text):
        path, _, fragment = target.split("?", 1)[0].partition("#")
        if not path:
            continue
        resolved = ((ROOT / path.lstrip("/")) if path.startswith("/") else (base / path)).resolve()
        if not resolved.is_relative_to(ROOT):
            bad.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            bad.append(f"{target} (no such file)")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved.read_text(encoding="utf-8")):
            bad.append(f"{target} (no such heading)")
    return bad


def test_the_link_finder_sees_what_a_reader_sees():
    text = ("[a](docs/method.md) ![b](tui.svg \"title\") [c](results.md#training) [d](#anchor) "
            "[e](https://example.org/x) [f](mailto:a@b.c) `[g](in-code.md)`\n"
            "```\n[h](in-a-fence.md)\n```\n[ref]: experiments/README.md\n")
    assert links(text) == ["docs/method.md", "tui.svg", "results.md#training", "experiments/README.md"]


def test_a_dead_link_is_caught():
    docs = ROOT / "docs"
    text = (docs / "method.md").read_text(encoding="utf-8")
    assert dead_links(text, docs) == []
    broken = text + "\n[gone](no-such-file.md) [out](../../../etc/passwd) [to](results.md#no-such-heading)\n"
    assert dead_links(broken, docs) == ["no-such-file.md (no such file)", "../../../etc/passwd (outside the repository)",
                                        "results.md#no-such-heading (no such heading)"]


def test_anchors_are_githubs():
    text = "# Results\n## The audit's verdict\n```\n# not a heading\n```\n## Unlearning 10 % at random\n## Results\n"
    assert anchors(text) == {"results", "the-audits-verdict", "unlearning-10--at-random", "results-1"}


@pytest.mark.parametrize("doc", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_names_a_file_in_the_repository(doc):
    assert dead_links(doc.read_text(encoding="utf-8"), doc.parent) == []


def test_the_documents_are_found():
    names = {str(p.relative_to(ROOT)) for p in documents()}
    assert {"README.md", "CHANGELOG.md", "docs/results.md", "docs/method.md", "docs/decisions.md"} <= names


def test_results_is_short():
    lines = (ROOT / "docs" / "results.md").read_text(encoding="utf-8").count("\n")
    assert lines < 400, f"docs/results.md has {lines} lines: move superseded measurements to docs/experiments/"
