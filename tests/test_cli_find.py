"""`lrlab find`: a real (small) range test from the command line: the preview, the suggestions, ready specs that
`lrlab compare` takes, and the picture."""

from __future__ import annotations

import re

import pytest

import lrlab
from lrlab.cli import main

pytest.importorskip("torch")
pytest.importorskip("matplotlib")


def test_find_prints_suggestions_and_ready_specs_and_writes_the_picture(tmp_path, capsys) -> None:
    out = tmp_path / "find.png"
    assert main(["find", "quantiles", "--steps", "40", "--seeds", "2", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    for letter, rule in (("V", "valley"), ("S", "steep"), ("M", "minimum"), ("L", "slide"), ("G", "gradient")):
        assert re.search(rf"^  {letter} {rule} ", text, re.M), text
    assert "learning rate (log)" in text and "quantiles: adam, batch 100" in text
    specs = re.findall(r"^  ((?:one_cycle|warmup)\(.*\))$", text, re.M)
    assert len(specs) == 2 and all(isinstance(lrlab.parse(s), lrlab.Schedule) for s in specs)
    command = next(line for line in text.splitlines() if line.strip().startswith("lrlab compare quantiles"))
    assert "'constant(0.005)'" in command
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {out}" in text
