"""MNIST download and parsing, without the network: small IDX files built here, served from file:// URLs or a
tiny HTTP server on 127.0.0.1 that honours Range requests (and can misbehave on purpose)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from lrlab.lab import get_task
from lrlab.lab.tasks import mnist as M

N_TRAIN, N_TEST = 60, 12


def idx_bytes(arr: np.ndarray) -> bytes:
    """An IDX file: two zero bytes, the type code, the number of dims, big-endian dims, big-endian data."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
             np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    big = arr.astype(arr.dtype.newbyteorder(">")) if arr.dtype.itemsize > 1 else arr
    header = bytes([0, 0, codes[big.dtype], arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes()
    return header + big.tobytes()


def small_mnist(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, N_TEST, dtype=np.uint8),
    }


def gz_files(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """{archive name: gz bytes}, like the mirrors serve (mtime 0 so the bytes are reproducible)."""
    return {k + ".gz": gzip.compress(idx_bytes(v), mtime=0) for k, v in arrays.items()}


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    return small_mnist()


@pytest.fixture
def served(tmp_path: Path, arrays) -> tuple[Path, dict[str, bytes], dict[str, str]]:
    """A directory of the four gz archives (a file:// mirror), their bytes and their sha256."""
    files = gz_files(arrays)
    src = tmp_path / "mirror"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    return src, files, {name: sha(data) for name, data in files.items()}


# --------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
        np.array([3, 1, 4, 1, 5], dtype=np.uint8),
        np.array([-7, 0, 7], dtype=np.int8),
        np.array([[1, -2], [300, -30000]], dtype=np.int16),
        np.array([1, -2, 2**31 - 1], dtype=np.int32),
        np.array([[0.5, -1.25]], dtype=np.float32),
        np.array([np.pi, -np.e], dtype=np.float64),
    ],
)
def test_parse_idx_round_trips_every_type(arr: np.ndarray) -> None:
    out = M.parse_idx(idx_bytes(arr))
    assert out.shape == arr.shape
    assert out.dtype == arr.dtype.newbyteorder("=")
    np.testing.assert_array_equal(out, arr)


def test_read_idx_gz_and_raw_agree(tmp_path: Path) -> None:
    arr = np.random.default_rng(1).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    (tmp_path / "a").write_bytes(idx_bytes(arr))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(arr)))
    np.testing.assert_array_equal(M.read_idx(tmp_path / "a"), arr)
    np.testing.assert_array_equal(M.read_idx(tmp_path / "a.gz"), arr)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", "magic"),
        (b"\x00\x00\x07\x01" + b"\x00\x00\x00\x01" + b"\x05", "magic"),  # unknown type code
        (b"\x00\x00\x08\x00", "magic"),  # zero dims
        (b"\x00\x00\x08\x03" + b"\x00\x00\x00\x02", "truncated IDX header"),
        (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x04" + b"\x01\x02\x03", "need 4 data bytes, the file has 3"),
        (b"\x00\x00\x08\x01" + b"\x00\x00\x00\x02" + b"\x01\x02\x03", "need 2 data bytes, the file has 3"),
    ],
)
def test_parse_idx_rejects_bad_files(raw: bytes, message: str) -> None:
    with pytest.raises(M.MnistError, match=message):
        M.parse_idx(raw, "x.idx")
    assert issubclass(M.MnistError, ValueError)


def test_bad_gzip_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")[:-6])
    with pytest.raises(M.MnistError, match="bad gzip"):
        M.read_idx(tmp_path / "bad.gz")


# ------------------------------------------------------------------------------------------- data_dir


@pytest.mark.parametrize("style", ["gz", "raw", "dotted-raw", "dotted-gz"])
def test_load_from_a_local_dir(tmp_path: Path, arrays, style: str) -> None:
    for key, arr in arrays.items():
        name = key.replace("-idx", ".idx") if style.startswith("dotted") else key
        data = idx_bytes(arr)
        if style.endswith("gz"):
            (tmp_path / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (tmp_path / name).write_bytes(data)
    x_train, y_train, x_test, y_test = M.load(data_dir=tmp_path, download=False)
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_local_dir_missing_files_are_named(tmp_path: Path, arrays) -> None:
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(arrays["train-images-idx3-ubyte"]))
    with pytest.raises(M.MnistError, match="lacks train-labels-idx1-ubyte, t10k-images-idx3-ubyte"):
        M.load(data_dir=tmp_path)
    with pytest.raises(M.MnistError, match="not a directory"):
        M.load(data_dir=tmp_path / "nope")


def test_local_dir_with_wrong_shapes_is_rejected(tmp_path: Path, arrays) -> None:
    arrays = dict(arrays)
    arrays["t10k-images-idx3-ubyte"] = np.zeros((N_TEST, 14, 14), np.uint8)
    for key, arr in arrays.items():
        (tmp_path / key).write_bytes(idx_bytes(arr))
    with pytest.raises(M.MnistError, match=r"\(n, 28, 28\)"):
        M.load(data_dir=tmp_path)
    arrays["t10k-images-idx3-ubyte"] = np.zeros((N_TEST + 1, 28, 28), np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(arrays["t10k-images-idx3-ubyte"]))
    with pytest.raises(M.MnistError, match="13 images but 12 labels"):
        M.load(data_dir=tmp_path)


def test_the_mnist_tasks_read_a_data_dir(tmp_path: Path, arrays) -> None:
    import torch

    for key, arr in arrays.items():
        (tmp_path / (key + ".gz")).write_bytes(gzip.compress(idx_bytes(arr)))
    task = get_task("mnist", data_dir=tmp_path)
    assert task.options["data_dir"] == str(tmp_path)
    assert (task.loss, task.batch_size, task.optimizer) == ("ce", 32, "sgd")
    data = task.load(0)
    n_val = N_TRAIN // 6
    assert data.train.x.shape == (N_TRAIN - n_val, 784) and data.val.x.shape == (n_val, 784)
    assert data.test.x.shape == (N_TEST, 784)
    for split in (data.train, data.val, data.test):
        assert split.x.dtype == np.float32 and split.y.dtype == np.int64 and split.y.shape == (len(split),)
    images = arrays["train-images-idx3-ubyte"].reshape(N_TRAIN, 784)
    np.testing.assert_allclose(data.val.x, images[N_TRAIN - n_val:] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.train.y, arrays["train-labels-idx1-ubyte"][: N_TRAIN - n_val])

    shapes = {"mnist": [(128, 784), (128,), (10, 128), (10,)], "mnist_softmax": [(10, 784), (10,)]}
    for name, want in shapes.items():
        model = get_task(name, data_dir=tmp_path).model(0)
        assert [tuple(p.shape) for p in model.parameters()] == want
        out = model(torch.as_tensor(data.test.x))
        assert out.shape == (N_TEST, 10)
        torch.nn.functional.cross_entropy(out, torch.as_tensor(data.test.y)).backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_cache_dir_follows_lrlab_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LRLAB_DATA_DIR", str(tmp_path / "data"))
    assert M.cache_dir() == tmp_path / "data" / "mnist"
    monkeypatch.delenv("LRLAB_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert M.cache_dir() == tmp_path / "home" / ".cache" / "lrlab" / "mnist"


def test_known_checksums_are_sha256_of_the_four_archives() -> None:
    assert sorted(M.CHECKSUMS) == sorted(k + ".gz" for k in small_mnist())
    for digest in M.CHECKSUMS.values():
        assert len(digest) == 64 and int(digest, 16) >= 0


# ------------------------------------------------------------------------------------ download and cache


def test_fetch_from_a_file_mirror_into_the_cache(tmp_path: Path, served, arrays) -> None:
    src, files, sums = served
    cache = tmp_path / "cache"
    got = M.fetch(cache, mirrors=[src.as_uri() + "/"], checksums=sums)
    assert sorted(p.name for p in cache.iterdir()) == sorted(files)  # no .part left behind
    for name, path in got.items():
        assert path.read_bytes() == files[name]
    x_train, y_train, *_ = M.load(cache=cache, mirrors=[], checksums=sums)  # from the cache, no mirror
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])


def test_a_bad_mirror_falls_through_to_the_next(tmp_path: Path, served) -> None:
    src, files, sums = served
    mirrors = [(tmp_path / "missing").as_uri() + "/", src.as_uri()]
    got = M.fetch(tmp_path / "cache", mirrors=mirrors, checksums=sums)
    assert all(p.read_bytes() == files[n] for n, p in got.items())


def test_checksum_failure_leaves_nothing_behind(tmp_path: Path, served) -> None:
    src, _, sums = served
    name = "train-labels-idx1-ubyte.gz"
    wrong = dict(sums, **{name: "0" * 64})
    cache = tmp_path / "cache"
    with pytest.raises(M.MnistError, match=rf"{name}.*sha256 {sums[name]} does not match the expected 0000"):
        M.fetch(cache, mirrors=[src.as_uri()], checksums=wrong)
    assert not (cache / name).exists() and not (cache / (name + ".part")).exists()


def test_a_corrupt_cached_file_is_fetched_again(tmp_path: Path, served) -> None:
    src, files, sums = served
    cache = tmp_path / "cache"
    M.fetch(cache, mirrors=[src.as_uri()], checksums=sums)
    name = "t10k-images-idx3-ubyte.gz"
    (cache / name).write_bytes(b"garbage")
    with pytest.raises(M.MnistError, match="download=False"):
        M.load(cache=cache, download=False, checksums=sums)
    M.load(cache=cache, mirrors=[src.as_uri()], checksums=sums)
    assert (cache / name).read_bytes() == files[name]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_with_nothing_cached_says_how_to_use_data_dir(tmp_path: Path) -> None:
    mirrors = [f"http://127.0.0.1:{_closed_port()}/mnist/"]
    with pytest.raises(M.MnistError) as err:
        M.load(cache=tmp_path / "cache", mirrors=mirrors, timeout=5)
    msg = str(err.value)
    assert "could not download train-images-idx3-ubyte.gz" in msg and "127.0.0.1" in msg
    assert "data_dir=DIR" in msg and "--data-dir" in msg and str(tmp_path / "cache") in msg
    with pytest.raises(ValueError, match=r"download=False.*data_dir=DIR"):
        M.load(cache=tmp_path / "cache", download=False)


def test_offline_error_reaches_the_task_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LRLAB_DATA_DIR", str(tmp_path))
    task = get_task("mnist", download=False)
    with pytest.raises(ValueError, match=r"not in the cache dir .*mnist.*data_dir"):
        task.load(0)
    with pytest.raises(ValueError, match=r"does not take option.*nonsense.*data_dir"):
        get_task("mnist", nonsense=1)


# ------------------------------------------------------------------------------- resume over real HTTP


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves `files` under /good/ (honours Range), /norange/ (ignores it), /flaky/ (sends half, closes)."""

    files: ClassVar[dict[str, bytes]] = {}
    log: ClassVar[list[tuple[str, str | None]]] = []

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        _, mode, name = self.path.split("/", 2)
        rng = self.headers.get("Range")
        self.log.append((self.path, rng))
        data = self.files.get(name)
        if data is None:
            self.send_error(404)
            return
        if rng and mode == "good":
            start = int(rng.removeprefix("bytes=").removesuffix("-"))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            body = data[start:]
        else:
            self.send_response(200)
            body = data
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "flaky":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    _Handler.log = []
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    thread.join()


NAME = "train-images-idx3-ubyte.gz"


@pytest.fixture
def blob() -> bytes:
    data = np.random.default_rng(7).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    _Handler.files = {NAME: data}
    return data


def test_a_part_file_resumes_with_a_range_request(tmp_path: Path, server: str, blob: bytes) -> None:
    (tmp_path / (NAME + ".part")).write_bytes(blob[:12_345])
    path = M.download(NAME, sha(blob), tmp_path, [server + "/good/"], timeout=10)
    assert path.read_bytes() == blob
    assert _Handler.log == [(f"/good/{NAME}", "bytes=12345-")]
    assert not (tmp_path / (NAME + ".part")).exists()


def test_an_interrupted_download_continues_on_the_next_mirror(tmp_path: Path, server: str, blob: bytes) -> None:
    path = M.download(NAME, sha(blob), tmp_path, [server + "/flaky/", server + "/good/"], timeout=10)
    assert path.read_bytes() == blob
    assert _Handler.log == [(f"/flaky/{NAME}", None), (f"/good/{NAME}", f"bytes={len(blob) // 2}-")]


def test_an_interrupted_download_keeps_its_part_for_the_next_call(tmp_path: Path, server: str, blob: bytes) -> None:
    with pytest.raises(M.MnistError, match=f"connection closed after {len(blob) // 2} of {len(blob)} bytes"):
        M.download(NAME, sha(blob), tmp_path, [server + "/flaky/"], timeout=10)
    assert (tmp_path / (NAME + ".part")).read_bytes() == blob[: len(blob) // 2]
    M.download(NAME, sha(blob), tmp_path, [server + "/good/"], timeout=10)
    assert (tmp_path / NAME).read_bytes() == blob
    assert _Handler.log[-1] == (f"/good/{NAME}", f"bytes={len(blob) // 2}-")


def test_a_server_ignoring_range_gets_the_whole_file_rewritten(tmp_path: Path, server: str, blob: bytes) -> None:
    (tmp_path / (NAME + ".part")).write_bytes(b"x" * 999)  # not even a prefix of the file
    path = M.download(NAME, sha(blob), tmp_path, [server + "/norange/"], timeout=10)
    assert path.read_bytes() == blob
    assert _Handler.log == [(f"/norange/{NAME}", "bytes=999-")]


def test_a_corrupt_part_is_refetched_from_scratch(tmp_path: Path, server: str, blob: bytes) -> None:
    (tmp_path / (NAME + ".part")).write_bytes(b"x" * 999)
    path = M.download(NAME, sha(blob), tmp_path, [server + "/good/"], timeout=10)
    assert path.read_bytes() == blob
    assert _Handler.log == [(f"/good/{NAME}", "bytes=999-"), (f"/good/{NAME}", None)]


def test_a_complete_part_gets_416_and_is_kept(tmp_path: Path, server: str, blob: bytes) -> None:
    (tmp_path / (NAME + ".part")).write_bytes(blob)
    path = M.download(NAME, sha(blob), tmp_path, [server + "/good/"], timeout=10)
    assert path.read_bytes() == blob
    assert _Handler.log == [(f"/good/{NAME}", f"bytes={len(blob)}-")]


def test_a_cached_file_is_not_downloaded_again(tmp_path: Path, server: str, blob: bytes) -> None:
    M.download(NAME, sha(blob), tmp_path, [server + "/good/"], timeout=10)
    M.download(NAME, sha(blob), tmp_path, [server + "/good/"], timeout=10)
    assert len(_Handler.log) == 1
