import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def assert_picture(path, min_size=(200, 150), frames=None):
    """Open an image with Pillow: big enough, not blank (many distinct colours), frame count for GIFs."""
    from PIL import Image, ImageStat

    with Image.open(path) as im:
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1], im.size
        if frames is not None:
            assert getattr(im, "n_frames", 1) == frames
        rgb = im.convert("RGB")
        stat = ImageStat.Stat(rgb)
        assert max(stat.stddev) > 10, f"{path} looks blank: stddev {stat.stddev}"
        assert len(rgb.getcolors(maxcolors=1 << 20) or []) > 20
        return im.size


@pytest.fixture
def picture():
    return assert_picture
