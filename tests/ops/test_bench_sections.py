"""`python -m bench --early-seeds N`: off by default, and a full bench that skips it keeps the
early-warnings section the doc has (the doc is rewritten from its top)."""

from __future__ import annotations

from pathlib import Path

from bench.__main__ import early_section, parse, quiet_section
from bench.doc import read_section, replace_section

DOC = """# Benchmarks

## Results

| a | b |

## Early warnings

Measured before: 3 retracted.

## Later

tail
"""


def test_the_early_bench_is_off_unless_asked() -> None:
    assert parse([]).early_seeds == 0
    assert parse(["--early-seeds", "4"]).early_seeds == 4


def test_a_skipped_early_bench_keeps_the_section_the_doc_has(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    assert early_section(0, doc) == ""  # no doc yet
    doc.write_text(DOC)
    kept = early_section(0, doc)
    assert kept == "## Early warnings\n\nMeasured before: 3 retracted.\n"
    assert early_section(0, None) == ""  # a quick run without --out writes no doc
    assert read_section(doc, "## Missing") == ""
    replace_section(doc, kept)
    assert doc.read_text() == DOC


def test_the_quiet_days_bench_is_off_unless_asked_and_keeps_its_section(tmp_path: Path) -> None:
    assert parse([]).quiet_days == 0
    assert parse(["--quiet-days", "50"]).quiet_days == 50
    doc = tmp_path / "benchmarks.md"
    doc.write_text(DOC + "\n## Early warnings on quiet days\n\n0.53 in twenty.\n")
    assert quiet_section(0, 2, doc) == "## Early warnings on quiet days\n\n0.53 in twenty.\n"
    assert quiet_section(0, 2, None) == ""
