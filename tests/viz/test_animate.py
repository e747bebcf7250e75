import shutil
import subprocess

import numpy as np
import pytest

import lrlab
from lrlab.lab.tasks.builtin_tasks import LINE_A0, LINE_X, LINE_Y
from lrlab.viz.animate import Trace, render

# the first seed's 30 points and starting slope, as the `line` task ships them
X, Y, A0 = LINE_X, LINE_Y, LINE_A0


def hand_trace(spec, n):
    """Gradient descent on y = a x written out by hand (no trainer): a <- a - lr * 2 mean((a x - y) x)."""
    s = lrlab.parse(spec)
    a, lrs = [A0], [np.nan]
    for k in range(n):
        lrs.append(s(k))
        a.append(a[-1] - lrs[-1] * np.mean(2 * (a[-1] * X - Y) * X))
    return Trace(spec, np.array(a), np.array(lrs), X, Y)


def test_trace_math():
    tr = hand_trace("constant(0.025)", 10)
    assert tr.optimum == pytest.approx(np.dot(X, Y) / np.dot(X, X))
    h = 1e-6
    assert tr.gradient(1.3) == pytest.approx((tr.loss(1.3 + h) - tr.loss(1.3 - h)) / (2 * h), rel=1e-6)
    # the first seed printed these after 10 updates at lr 0.025
    assert tr.weights[10] == pytest.approx(1.945937013155588, abs=1e-6)
    assert tr.losses[10] == pytest.approx(3.5332415076132806, abs=1e-6)


def test_gif_frames(tmp_path, picture):
    traces = [hand_trace("constant(0.025)", 6), hand_trace("piecewise([2], [0.025, 0.0125])", 4)]
    out = render(traces, tmp_path / "d.gif", dpi=40)
    picture(out, min_size=(400, 200), frames=7)  # steps 0..6; the shorter trace holds its last point
    a = render(traces, tmp_path / "a.gif", dpi=40).read_bytes()
    assert a == out.read_bytes()  # deterministic


def test_frames_differ_and_subsample(tmp_path):
    from PIL import Image, ImageChops

    out = render([hand_trace("constant(0.025)", 30)], tmp_path / "d.gif", dpi=40, max_frames=8)
    with Image.open(out) as im:
        assert im.n_frames == 8
        im.seek(0)
        first = im.convert("RGB")
        im.seek(7)
        last = im.convert("RGB")
    assert ImageChops.difference(first, last).getbbox() is not None


def test_bad_outputs(tmp_path, monkeypatch):
    tr = [hand_trace("constant(0.025)", 2)]
    with pytest.raises(ValueError, match=r"\.gif"):
        render(tr, tmp_path / "d.png")
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ValueError, match="ffmpeg"):
        render(tr, tmp_path / "d.mp4")
    with pytest.raises(ValueError, match="traces"):
        render([], tmp_path / "d.gif")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_mp4_with_ffmpeg(tmp_path):
    out = render([hand_trace("constant(0.025)", 6)], tmp_path / "d.mp4", dpi=40)
    assert out.stat().st_size > 1000
    if shutil.which("ffprobe"):
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
             "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(out)],
            capture_output=True, text=True, check=True,
        )
        assert int(probe.stdout.strip()) == 7


def test_info_box_numbers_stay_short():
    from lrlab.viz.animate import _number

    assert _number(1.945937013155588) == "1.945937"
    assert _number(-9.645946807275891e127) == "-9.6459e+127"
    assert _number(3.2e-7) == "3.2000e-07" and _number(0.0) == "0.000000"
    assert _number(float("inf")) == "inf" and _number(0.025, fixed=False) == "0.025"
    huge = [hand_trace("constant(2.0)", 40)]  # diverges: the weight reaches ~1e60
    assert abs(huge[0].weights[-1]) > 1e50
    assert all(len(_number(w)) <= 13 for w in huge[0].weights)  # sign, 5 digits, point, 6 decimals at most


def test_gif_stores_only_what_changed_and_decodes_to_every_frame(tmp_path):
    from PIL import Image

    from lrlab.viz.animate import _write_gif

    rng = np.random.default_rng(1)
    base = rng.integers(0, 6, size=(90, 120)) * 40  # noise of a few grey levels: the palette holds them exactly
    frames = []
    for k in range(6):
        pixels = np.stack([base, base, base], axis=-1).astype(np.uint8)
        pixels[2 + 3 * k: 8 + 3 * k, 2:8] = (200, 30, 30)  # two things moving in opposite corners, as the rows'
        pixels[80 - 3 * k: 86 - 3 * k, 110:116] = (30, 30, 200)  # lines and text boxes do: no crop holds them
        frames.append(Image.fromarray(pixels, "RGB"))
    out = tmp_path / "f.gif"
    _write_gif(frames, out, [100] * 6)
    with Image.open(out) as im:
        assert im.n_frames == 6
        for k in range(6):  # every frame decodes to exactly what was drawn
            im.seek(k)
            assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(frames[k]))
    whole = tmp_path / "whole.gif"  # the same frames, each stored whole (cropped to what changed)
    frames[0].save(whole, save_all=True, append_images=frames[1:], duration=100, optimize=False, disposal=1)
    assert out.stat().st_size < 0.4 * whole.stat().st_size


def test_width_sets_the_pixels(tmp_path):
    from PIL import Image

    out = render([hand_trace("constant(0.025)", 3)], tmp_path / "w.gif", width=600)
    with Image.open(out) as im:
        assert abs(im.size[0] - 600) <= 1
    with pytest.raises(ValueError, match="width"):
        render([hand_trace("constant(0.025)", 3)], tmp_path / "w.gif", width=10)
