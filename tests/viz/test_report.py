import base64
import io
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from fakes import fake_comparison
from PIL import Image

from lrlab.viz.report import write_report

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if shutil.os.path.exists("/usr/bin/chromium") else None)


class Outline(HTMLParser):
    """Collects tags, table cells, image sources and every URL-bearing attribute."""

    def __init__(self):
        super().__init__()
        self.tags, self.cells, self.images, self.urls, self.text = [], [], [], [], []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("src", "href", "action"):
            if key in attrs and not attrs[key].startswith(("data:", "#")):
                self.urls.append(attrs[key])
        self._in_cell = tag in ("td", "th")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_cell and data.strip():
            self.cells.append(data.strip())


def _write(tmp_path):
    c = fake_comparison(schedules=("constant(0.1)", "cosine(0.1, decay_steps=200)", "one_cycle(0.1)"))
    command = "lrlab compare quantiles 'constant(0.1)' 'cosine(0.1, decay_steps=200)' 'one_cycle(0.1)' --seeds 3"
    return c, command, write_report(c, tmp_path / "report.html", command=command)


def test_report_structure(tmp_path):
    c, command, path = _write(tmp_path)
    text = path.read_text(encoding="utf-8")
    outline = Outline()
    outline.feed(text)
    assert "table" in outline.tags and "thead" in outline.tags
    assert outline.urls == []
    assert "http://" not in text and "https://" not in text and "<link" not in text and "<script" not in text
    # the leaderboard: every schedule appears in a cell, best first
    assert outline.cells[: len(c.leaderboard.columns)] == list(c.leaderboard.columns)
    first_row = outline.cells[len(c.leaderboard.columns)]
    assert first_row == c.leaderboard["schedule"][0]
    # images are embedded and decode to real pictures
    assert outline.images
    for src in outline.images:
        assert src.startswith("data:image/png;base64,")
        im = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert im.size[0] > 800
    # the command and the config of every run
    joined = "".join(outline.text)
    assert command in joined
    assert joined.count('"seed":') == len(c.runs)
    assert all(f'"id": "{r.id}"' in joined for r in c.runs)


def test_report_path_checked(tmp_path):
    with pytest.raises(ValueError, match="html"):
        write_report(fake_comparison(), tmp_path / "report.txt")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_report_renders_in_chromium(tmp_path):
    _, _, path = _write(tmp_path)
    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,1600",
           path.resolve().as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    im = Image.open(shot).convert("RGB")
    assert im.size == (1200, 1600)
    # not blank: many colours and a lot of non-white pixels (text, table, the embedded curves)
    colours = im.getcolors(maxcolors=1 << 22)
    assert len(colours) > 200
    non_white = sum(n for n, rgb in colours if min(rgb) < 240)
    assert non_white > 0.03 * im.size[0] * im.size[1]
    # the embedded curves image is drawn: its blue and red lines are on the page
    assert any(n > 50 for n, rgb in colours if rgb[2] > 150 and rgb[0] < 80)


def test_report_of_a_real_comparison(tmp_path, picture):
    from lrlab.lab.compare import compare
    from lrlab.viz.curves import plot_curves

    c = compare("or3", ["constant(0.5)", "cosine(0.5)"], seeds=2, epochs=6, db=None, progress=False)
    path = write_report(c, tmp_path / "report.html", command="lrlab compare or3 'constant(0.5)' 'cosine(0.5)'")
    outline = Outline()
    outline.feed(path.read_text(encoding="utf-8"))
    assert outline.urls == [] and len(outline.images) == 1
    assert {"constant(0.5)", "cosine(0.5)"} <= set(outline.cells)
    assert "".join(outline.text).count('"schedule_config"') == 4  # the config of all 2 x 2 runs
    picture(plot_curves(c, tmp_path / "curves.png"), min_size=(900, 300))
