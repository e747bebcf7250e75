"""The documentation's tables render as meant: no escaped pipe printed literally ("sgd\\|adam" in the built page;
an option's alternatives are written <code>sgd&#124;adam</code>, which GitHub renders too). Each page's Markdown
is rendered with the site's own extensions (mkdocs.yml), without building the site."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

markdown = pytest.importorskip("markdown")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").rglob("*.md"))


def _extensions() -> list:
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    block = text.split("markdown_extensions:", 1)[1].split("\n\n", 1)[0]
    names = re.findall(r"^\s+- ([\w.]+)", block, re.M)
    return [name for name in names if name != "toc"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT / "docs")))
def test_tables_show_no_escaped_pipe(page):
    html = markdown.markdown(page.read_text(encoding="utf-8"), extensions=_extensions())
    assert "\\|" not in html
