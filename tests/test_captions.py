"""Report captions (report/*.rst) are valid reStructuredText: a docutils error shows up in the report as a
"System Message" block inside the caption, so any warning or error here fails."""

from __future__ import annotations

import io
import re
from pathlib import Path

import docutils.core
import pytest

REPORT = Path(__file__).resolve().parents[1] / "report"


@pytest.mark.parametrize("path", sorted(REPORT.glob("*.rst")), ids=lambda p: p.name)
def test_caption_parses_without_docutils_messages(path):
    text = path.read_text()
    text = re.sub(r"\{\{.*?\}\}", "N", text)  # Jinja (the workflow description): Snakemake renders it first
    messages = io.StringIO()
    docutils.core.publish_doctree(text, settings_overrides={"warning_stream": messages, "report_level": 2})
    assert messages.getvalue() == "", messages.getvalue()


def test_a_bad_caption_is_caught():
    messages = io.StringIO()
    settings = {"warning_stream": messages, "report_level": 2}
    docutils.core.publish_doctree("the largest |attribution| of a map", settings_overrides=settings)
    assert "Undefined substitution" in messages.getvalue()


@pytest.mark.parametrize("path", sorted(REPORT.glob("*.rst")), ids=lambda p: p.name)
def test_caption_cites_papers_by_name_not_by_seed_number(path):
    """ "seed 003 §3.4" means nothing to a reader of the report: captions name authors and titles."""
    assert not re.search(r"\bseeds? 00\d", path.read_text(), re.IGNORECASE), path.name
