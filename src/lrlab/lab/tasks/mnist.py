"""MNIST's four IDX files: downloaded once into a cache dir (several mirrors, sha256 checks, resumable), or
read from a local directory; parsed with numpy (magic numbers and sizes validated).

    x_train, y_train, x_test, y_test = load()               # cache, downloading what is missing
    x_train, y_train, x_test, y_test = load(data_dir="dl/")  # a local copy of the four files, gz or not

The cache dir is `$LRLAB_DATA_DIR/mnist`, by default `~/.cache/lrlab/mnist`.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

# sha256 of the four archives as served by the mirrors below. The same digests are listed by several independent
# projects that download MNIST (e.g. torch.rb, guild.ai's MNIST example); the MD5s torchvision lists for the same
# files are f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d... .
CHECKSUMS: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# IDX type codes (third byte of the magic number) -> big-endian numpy dtype
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CHUNK = 1 << 16


class MnistError(ValueError):
    """MNIST is not available (offline, bad checksum, bad file). A ValueError so the CLI prints one line."""


def data_root() -> Path:
    """Where lrlab keeps data it downloads or generates: $LRLAB_DATA_DIR, else ~/.cache/lrlab."""
    env = os.environ.get("LRLAB_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lrlab"


def cache_dir() -> Path:
    """The MNIST cache dir: $LRLAB_DATA_DIR/mnist, else ~/.cache/lrlab/mnist."""
    return data_root() / "mnist"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- parsing


def parse_idx(raw: bytes, what: str = "IDX data") -> np.ndarray:
    """An array from the bytes of an IDX file (not compressed). ValueError on a bad magic number or size."""
    if len(raw) < 4:
        raise MnistError(f"{what}: too short for an IDX header ({len(raw)} bytes)")
    zero1, zero2, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero1 != 0 or zero2 != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise MnistError(f"{what}: bad IDX magic number 0x{raw[:4].hex()}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MnistError(f"{what}: truncated IDX header ({len(raw)} bytes, need {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise MnistError(
            f"{what}: IDX dims {dims} need {expected} data bytes, the file has {len(raw) - header}"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed (detected by its magic bytes) or raw."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise MnistError(f"{path}: bad gzip data ({exc})") from None
    return parse_idx(raw, str(path))


def _read_images(path: Path) -> np.ndarray:
    arr = read_idx(path)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[1:] != (28, 28):
        raise MnistError(f"{path}: expected uint8 images of shape (n, 28, 28), got {arr.dtype} {arr.shape}")
    return arr


def _read_labels(path: Path) -> np.ndarray:
    arr = read_idx(path)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise MnistError(f"{path}: expected uint8 labels of shape (n,), got {arr.dtype} {arr.shape}")
    if arr.size and arr.max() > 9:
        raise MnistError(f"{path}: labels must be 0..9, found {int(arr.max())}")
    return arr


# ---------------------------------------------------------------------------------------------- download


def _fetch_into(url: str, part: Path, timeout: float) -> None:
    """Fetch `url` into `part`, continuing from its current size with an HTTP Range request.

    206 appends; any full answer (200, file://) rewrites the file; 416 (nothing left) leaves it as is.
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "lrlab"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the part already holds the whole file; the checksum decides
            return
        raise
    with resp:
        status = getattr(resp, "status", None)
        append = bool(offset) and status == 206
        total = _expected_total(resp, offset if append else 0)
        with open(part, "ab" if append else "wb") as f:
            shutil.copyfileobj(resp, f, _CHUNK)
    size = part.stat().st_size
    if total is not None and size < total:
        # http.client returns a short body silently when the server closes early: keep the part to resume
        raise OSError(f"connection closed after {size} of {total} bytes")


def _expected_total(resp: object, offset: int) -> int | None:
    """The full file size the answer promises (Content-Range total for a resume, else Content-Length)."""
    headers = getattr(resp, "headers", None)
    if headers is None:
        return None
    if offset:
        content_range = headers.get("Content-Range", "")
        if not content_range.startswith(f"bytes {offset}-"):
            raise OSError(f"unexpected Content-Range {content_range!r} for a resume at byte {offset}")
        total = content_range.rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def download(
    name: str,
    sha256: str,
    dest_dir: str | Path,
    mirrors: Sequence[str] = MIRRORS,
    timeout: float = 30.0,
) -> Path:
    """`dest_dir/name` with the given sha256, fetched from the first mirror that serves it.

    Bytes go to `name.part` first, so an interrupted download resumes (HTTP Range) on the next call or from
    the next mirror; a file whose checksum is wrong is deleted. MnistError when no mirror gives good bytes.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / name
    if final.exists():
        if sha256_file(final) == sha256:
            return final
        final.unlink()  # corrupt or stale: fetch again
    part = dest_dir / (name + ".part")
    errors: list[str] = []
    for base in mirrors:
        url = base if base.endswith(name) else base.rstrip("/") + "/" + name
        for _attempt in range(2):  # a resumed file with a bad checksum gets one fresh try
            resumed = part.exists() and part.stat().st_size > 0
            try:
                _fetch_into(url, part, timeout)
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                errors.append(f"{url}: {getattr(exc, 'reason', None) or exc}")
                break  # keep the part: the next mirror continues it
            digest = sha256_file(part)
            if digest == sha256:
                os.replace(part, final)
                return final
            part.unlink()
            errors.append(f"{url}: sha256 {digest} does not match the expected {sha256}")
            if not resumed:
                break
    raise MnistError(f"could not download {name}: " + "; ".join(errors or ["no mirrors given"]))


def fetch(
    cache: str | Path | None = None,
    mirrors: Sequence[str] = MIRRORS,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> dict[str, Path]:
    """Make sure the four archives are in the cache dir with the right sha256; {file name: path}.

    MnistError telling the user about `data_dir` when a file cannot be downloaded (e.g. offline).
    """
    cache = Path(cache) if cache is not None else cache_dir()
    checksums = CHECKSUMS if checksums is None else checksums
    out = {}
    for name, digest in checksums.items():
        try:
            out[name] = download(name, digest, cache, mirrors, timeout)
        except MnistError as exc:
            raise MnistError(f"{exc}. {_help(cache)}") from None
    return out


def _help(cache: Path) -> str:
    names = ", ".join(CHECKSUMS)
    return (
        f"Without network, get the four MNIST files ({names}) elsewhere and pass data_dir=DIR "
        f"(CLI: --data-dir DIR), or copy them into the cache dir {cache}"
    )


# ---------------------------------------------------------------------------------------------- loading

_KEYS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def find_files(data_dir: str | Path) -> dict[str, Path]:
    """The four IDX files in a local directory: `train-images-idx3-ubyte` or `train-images.idx3-ubyte`,
    each either raw or with `.gz`. MnistError naming what is missing."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise MnistError(f"data_dir {str(data_dir)!r} is not a directory")
    found: dict[str, Path] = {}
    for key in _KEYS:
        stem_dot = key.replace("-idx", ".idx")
        for cand in (key, key + ".gz", stem_dot, stem_dot + ".gz"):
            if (data_dir / cand).is_file():
                found[key] = data_dir / cand
                break
    missing = [k for k in _KEYS if k not in found]
    if missing:
        raise MnistError(
            f"data_dir {str(data_dir)!r} lacks {', '.join(missing)} (raw or .gz); it must hold the four MNIST "
            "IDX files"
        )
    return found


_MEMO: dict[tuple, tuple[np.ndarray, ...]] = {}


def load(
    data_dir: str | Path | None = None,
    *,
    cache: str | Path | None = None,
    download: bool = True,
    mirrors: Sequence[str] = MIRRORS,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST as uint8 arrays: x_train (n, 28, 28), y_train (n,), x_test (m, 28, 28), y_test (m,)
    (n = 60000, m = 10000 for the real files).

    data_dir: a local copy of the four files (validated by parsing, not by checksum). Otherwise the cache
    dir is used, downloading what is missing unless download=False. Parsed arrays are kept for the process.
    """
    if data_dir is not None:
        found = find_files(data_dir)
        paths = [found[k] for k in _KEYS]
    else:
        cache_path = Path(cache) if cache is not None else cache_dir()
        checksums = CHECKSUMS if checksums is None else checksums
        names = list(checksums)
        if len(names) != 4:
            raise MnistError(f"checksums must name the four MNIST archives, got {names}")
        if download:
            got = fetch(cache_path, mirrors, checksums, timeout)
        else:
            got = {n: cache_path / n for n in names if (cache_path / n).is_file()}
            bad = [n for n in names if n not in got or sha256_file(got[n]) != checksums[n]]
            if bad:
                raise MnistError(
                    f"MNIST is not in the cache dir {cache_path} ({', '.join(bad)} missing or with a wrong "
                    f"checksum) and download=False. {_help(cache_path)}"
                )
        paths = [got[n] for n in _order(names)]
    key = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    if key not in _MEMO:
        x_train, y_train = _read_images(paths[0]), _read_labels(paths[1])
        x_test, y_test = _read_images(paths[2]), _read_labels(paths[3])
        for xs, ys, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
            if len(xs) != len(ys):
                raise MnistError(f"MNIST {split}: {len(xs)} images but {len(ys)} labels")
        _MEMO.clear()
        _MEMO[key] = (x_train, y_train, x_test, y_test)
    return tuple(a.copy() for a in _MEMO[key])  # type: ignore[return-value]


def _order(names: Sequence[str]) -> list[str]:
    """Archive names in the order train images, train labels, test images, test labels."""
    out = []
    for key in _KEYS:
        match = [n for n in names if n.startswith(key) or n.startswith(key.replace("-idx", ".idx"))]
        if len(match) != 1:
            raise MnistError(f"checksums must name exactly one file for {key}, got {list(names)}")
        out.append(match[0])
    return out
