import base64
import io
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from fakes import fake_comparison
from PIL import Image

from lrlab.lab.ranking import Ranking
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
        if tag in ("td", "th"):
            self._in_cell, self._cell = True, []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False
            if "".join(self._cell).strip():
                self.cells.append("".join(self._cell).strip())

    def handle_data(self, data):
        self.text.append(data)
        if self._in_cell:
            self._cell.append(data)


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


def test_report_states_the_target_and_folds_the_spread(tmp_path):
    from types import MethodType

    c = fake_comparison()
    c.leaderboard = _board_with_std(c)
    c.leaderboard.loc[1, "diverged"] = 2
    c.target = None
    c.resolved_target = MethodType(lambda self: 0.9312, c)
    c._val_column = MethodType(lambda self: "val_accuracy", c)
    c.ranking = Ranking("val_accuracy", True, test="test_accuracy")
    outline = Outline()
    outline.feed(write_report(c, tmp_path / "r.html").read_text(encoding="utf-8"))
    text = "".join(outline.text)
    assert "epochs_to_target: the first epoch whose val_accuracy is ≥ 0.9312 (by default 98% of the best" in text
    assert ("Best first: ranked by the final val_accuracy (mean over seeds, higher is better); test_accuracy is "
            "shown beside it, not used to rank.") in text
    heads = outline.cells[: outline.cells.index(c.leaderboard["schedule"][0])]
    assert not any(h.endswith("_std") for h in heads) and "test_accuracy" in heads and "reached" in heads
    # one precision per column: the spread takes the mean's decimals (0.9xxx ± 0.0123), as the terminal shows it
    spreads = [cell for cell in outline.cells if "±" in cell]
    assert spreads and any(cell.endswith("± 0.0123") for cell in spreads)
    assert all(len(a.split(".")[-1]) == len(b.split(".")[-1]) for a, b in (cell.split(" ± ") for cell in spreads))
    assert '<tr class="diverged">' in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_report_path_checked(tmp_path):
    with pytest.raises(ValueError, match="html"):
        write_report(fake_comparison(), tmp_path / "report.txt")


LONG_SPECS = (
    "constant(0.1)", "cosine(0.1, decay_steps=200)", "one_cycle(0.1)",
    "exponential(0.1, decay_steps=5, decay_rate=0.95, staircase=True)",
    "polynomial(0.1, decay_steps=30, end_lr=0.001, power=2.0, cycle=True)",
    "cosine_restarts(0.1, first_decay_steps=10, t_mul=2.0, m_mul=0.9)",
    "constant(0.3)@plateau(factor=0.5, patience=3, min_lr=1e-5)",
    "piecewise([4, 9, 14], [0.025, 0.0125, 0.008333333333333333, 0.00625])",
)


def _chromium(tmp_path, url, width, *extra):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},1600", *extra, url]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout


def _board_with_std(c):
    """The fake leaderboard with the lab's real columns: mean and _std pairs, reached, wall_s, diverged."""
    board = c.leaderboard.copy()
    for col in ("val_accuracy", "test_accuracy", "test_loss"):
        board[f"{col}_std"] = 0.0123
    board["best_val_accuracy"], board["best_val_accuracy_std"] = board["val_accuracy"], 0.01
    board["epochs_to_target"], board["reached"], board["wall_s"], board["diverged"] = 12.0, "3/3", 1.234, 0
    return board


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make browser)")
def test_report_renders_in_chromium_and_the_leaderboard_fits(tmp_path):
    c = fake_comparison(schedules=LONG_SPECS)
    c.leaderboard = _board_with_std(c)
    path = write_report(c, tmp_path / "report.html", command="lrlab compare quantiles " + " ".join(LONG_SPECS))
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, path.resolve().as_uri(), 1200, f"--screenshot={shot}")
    im = Image.open(shot).convert("RGB")
    assert im.size == (1200, 1600)
    # not blank: many colours and a lot of non-white pixels (text, table, the embedded curves)
    colours = im.getcolors(maxcolors=1 << 22)
    assert len(colours) > 200
    non_white = sum(n for n, rgb in colours if min(rgb) < 240)
    assert non_white > 0.03 * im.size[0] * im.size[1]
    # the embedded curves image is drawn: its blue and red lines are on the page
    assert any(n > 50 for n, rgb in colours if rgb[2] > 150 and rgb[0] < 80)
    # widths as the browser lays them out, read by a probe in a copy of the report (the report has no script)
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text(encoding="utf-8").replace("</body>", (
        '<script>var b = document.querySelector(".scroll");'
        'document.title = [document.documentElement.scrollWidth, innerWidth, b.scrollWidth, b.clientWidth]'
        '.join(" ");</script></body>')), encoding="utf-8")
    for width in (1400, 700):
        dom = _chromium(tmp_path, probe.resolve().as_uri(), width, "--dump-dom")
        page, view, board, box = map(int, dom.split("<title>", 1)[1].split("</title>", 1)[0].split())
        assert view == width
        assert page <= view, f"the page scrolls sideways at {width} px"
        if width == 1400:
            assert board <= box, f"the leaderboard scrolls sideways at {width} px ({board} > {box})"


def test_report_of_a_real_comparison(tmp_path, picture):
    from lrlab.lab.studies.compare import compare
    from lrlab.viz.run_curves import plot_curves

    c = compare("or3", ["constant(0.5)", "cosine(0.5)"], seeds=2, epochs=6, db=None, progress=False)
    path = write_report(c, tmp_path / "report.html", command="lrlab compare or3 'constant(0.5)' 'cosine(0.5)'")
    outline = Outline()
    outline.feed(path.read_text(encoding="utf-8"))
    assert outline.urls == [] and len(outline.images) == 2  # the mean, and each seed's curves folded
    assert {"constant(0.5)", "cosine(0.5)"} <= set(outline.cells)
    assert "".join(outline.text).count('"schedule_config"') == 4  # the config of all 2 x 2 runs
    assert "ranked by the final val_accuracy" in "".join(outline.text)
    picture(plot_curves(c, tmp_path / "curves.png"), min_size=(900, 300))


def test_a_narrow_window_gets_the_curves_drawn_for_its_width(tmp_path):
    import re
    import struct

    from lrlab.lab.studies.compare import compare
    from lrlab.viz.report import NARROW

    c = compare("or3", ["constant(0.5)", "cosine(0.5)"], epochs=3, seeds=2, db=None, progress=False)
    text = write_report(c, tmp_path / "r.html").read_text(encoding="utf-8")
    found = re.search(rf'<source media="\(max-width: {NARROW}px\)" srcset="data:image/png;base64,([^"]+)">', text)
    assert found, "no narrow variant"
    png = base64.b64decode(found.group(1))
    width, height = struct.unpack(">II", png[16:24])
    # drawn for a ~700 px pane: shown near 1:1 there, so its 8-9 pt text stays ~12 px (the wide one, 1320 px
    # squeezed into 700, would show it at ~6 px)
    assert 600 <= width <= NARROW and height > width


def test_the_report_folds_each_seeds_curves(tmp_path):
    from lrlab.viz.report import curve_pictures

    c = fake_comparison(schedules=("constant(0.1)", "cosine(0.1, decay_steps=200)"), seeds=(0, 1, 2))
    text = write_report(c, tmp_path / "r.html").read_text(encoding="utf-8")
    pictures = curve_pictures(c, title="quantiles")
    assert [(p.per_seed, p.narrow) for p in pictures] == [(False, False), (False, True), (True, False), (True, True)]
    names = ("constant(0.1)", "cosine(0.1, decay_steps=200)")
    for p in pictures[2:]:  # each seed's figure: one line per (schedule, seed) on each panel
        for ax in p.figure.axes[:3]:
            assert sorted(line.get_gid() for line in ax.lines) == sorted(
                f"{name} · seed {seed}" for name in names for seed in range(3))
    # in the report, under a <details> after the mean's picture: both of its variants, byte for byte
    folded = text.split('<details class="seeds">', 1)[1].split("</details>", 1)[0]
    assert "Each seed's curves (3 seeds" in folded
    for p in pictures[2:]:
        assert base64.b64encode(p.png()).decode("ascii") in folded
    assert base64.b64encode(pictures[0].png()).decode("ascii") in text.split('<details class="seeds">', 1)[0]
    one = fake_comparison(seeds=(0,))  # one seed: nothing to fold
    assert "<details class=\"seeds\">" not in write_report(one, tmp_path / "one.html").read_text(encoding="utf-8")


LEGIBLE_PX = 9.0  # CSS px: the smallest text of a figure, as the browser shows it


def _smallest_text_pt(fig) -> float:
    """The smallest font size (points) of any text the figure draws: tick labels, legend, titles, labels."""
    from matplotlib.text import Text

    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make browser)")
def test_the_figures_text_stays_legible_in_a_700px_window(tmp_path):
    """Every figure's smallest text (legend, ticks) as Chromium shows it: the figure's font size in image pixels
    (points x dpi / 72) times the scale the page draws the image at (its width on the page / its natural width),
    at 700 px, just above the narrow breakpoint and at 1400 px; each seed's figure opened."""
    import json

    from lrlab.viz.report import NARROW, curve_pictures

    c = fake_comparison(schedules=LONG_SPECS)
    c.leaderboard = _board_with_std(c)
    path = write_report(c, tmp_path / "report.html", command="lrlab compare quantiles ...")
    natural = {}  # (width, height) in pixels -> smallest text in image pixels
    for p in curve_pictures(c, title="quantiles"):
        width, height = (round(v * p.dpi) for v in p.figure.get_size_inches())
        natural[(width, height)] = _smallest_text_pt(p.figure) * p.dpi / 72
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text(encoding="utf-8").replace("</body>", (
        '<script>document.querySelectorAll("details").forEach(function (d) { d.open = true; });'
        'addEventListener("load", function () { document.title = JSON.stringify(Array.from('
        'document.images, function (i) { return [i.naturalWidth, i.naturalHeight, i.clientWidth]; })); });'
        "</script></body>")), encoding="utf-8")
    shown = {}
    for window in (700, NARROW + 1, 1400):
        dom = _chromium(tmp_path, probe.resolve().as_uri(), window, "--dump-dom", "--virtual-time-budget=5000")
        images = json.loads(html_unescape(dom.split("<title>", 1)[1].split("</title>", 1)[0]))
        assert len(images) == 2  # the mean and each seed's curves, each as its variant for this width
        for w, h, client in images:
            assert (w, h) in natural, f"an image of {w}x{h} px that the report does not draw"
            shown[window, w, h] = round(natural[w, h] * client / w, 1)
            assert shown[window, w, h] >= LEGIBLE_PX, f"text shown at {shown[window, w, h]} px at {window} px: {shown}"
    # a 700 px window gets the narrow figures, drawn for it: shown near their size
    assert all(h > w for (window, w, h) in shown if window == 700)


def html_unescape(text):
    import html

    return html.unescape(text)
