"""The `tinylm` task: a byte-level decoder-only transformer predicting the next byte of real text, so schedules are
compared where today's questions come from (warmup-stable-decay, cooldowns, schedule-free) at a size a CPU trains
in about a minute.

The built-in corpus is text every machine has offline: the sources of a fixed list of the running Python's
standard-library modules (STDLIB_TRAIN, STDLIB_VAL, STDLIB_TEST: modules that exist as single files in every
CPython 3.10+), read from `sysconfig.get_paths()["stdlib"]` and split by file. The bytes differ between Python
versions, so every run records the corpus's sha256 and the Python version (Task.identity -> the run's config
"task_identity"). `text=PATH` (CLI `--text PATH`) trains on a user's own file instead, split by position: the first
80% of its bytes train, the next 10% validate, the last 10% test. The file is at most MAX_TEXT_BYTES (256 MiB; a
larger one is refused in one line before it is read), read part by part, and only the windows the task uses are
widened to int64, so a corpus costs about its own size in memory.

Windows: each split's text is cut into non-overlapping windows of `context` + 1 bytes at a stride of `context` (every
byte after a window's first is predicted once); x is a window's first `context` bytes, y the next byte at every
position. An epoch is one shuffled pass over `train_windows` training windows (a fixed selection, the same for
every seed, drawn with a fixed generator from all the training windows when there are more), so an epoch is a
fixed number of optimizer steps, ceil(train_windows / batch_size): an evaluation interval more than a pass over the
corpus. Validation and test use at most `eval_windows` windows each (evenly spread). The loss is the next-byte
cross-entropy averaged over positions (loss kind "lm"); the leaderboard reads it in bits per byte (bpb = loss/ln 2).

The model: token and position embeddings (nn.Embedding), `layers` pre-norm blocks (nn.LayerNorm, causal
self-attention through F.scaled_dot_product_attention(is_causal=True) with bias-free q, k, v projections, a 4x GELU
MLP), a final LayerNorm and a linear head over the 256 byte values. No buffers, no dropout: it trains on the stacked
engine (vmap over functional_call) as on the sequential one, on CPU or CUDA; `--engine auto` stacks it on CUDA only
(on a CPU vmap runs the attention member by member, slower than one run after another).
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
import warnings
from functools import partial
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ... import _check
from .task import Data, Split, Task

STDLIB_TRAIN = (
    "argparse.py", "ast.py", "calendar.py", "codecs.py", "configparser.py", "contextlib.py", "dataclasses.py",
    "enum.py", "functools.py", "ipaddress.py", "locale.py", "optparse.py", "pickle.py", "random.py", "shutil.py",
    "statistics.py", "tarfile.py", "threading.py", "tokenize.py", "traceback.py",
)
STDLIB_VAL = ("difflib.py", "textwrap.py")
STDLIB_TEST = ("fractions.py", "heapq.py")
"""The corpus: standard-library modules that are single .py files in every CPython from 3.10 on (none became a
package or a shim, none was removed), about 1.3 MB of Python source on 3.11."""

VOCAB = 256
TEXT_SPLIT = (0.8, 0.1)
"""A user's text: the first 80% of its bytes train, the next 10% validate, the rest tests."""
MAX_TEXT_BYTES = 256 * 2**20
"""The largest text file `text=PATH` (`--text`) takes: 256 MiB (an epoch reads train_windows windows of it)."""

# Stacked, the attention's CPU kernel has no vmap batching rule and runs member by member (correct, as fast as K
# sequential calls); torch warns about it once per process, which says nothing a user can act on.
warnings.filterwarnings("ignore", message=r".*batching rule for aten::_scaled_dot_product", category=UserWarning)


# -- the corpus ---------------------------------------------------------------------------------
def stdlib_corpus() -> tuple[list[bytes], dict[str, Any]]:
    """The train, val and test bytes of the standard-library corpus and what identifies them."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts = []
    for names in (STDLIB_TRAIN, STDLIB_VAL, STDLIB_TEST):
        chunks = []
        for name in names:
            try:
                chunks.append((root / name).read_bytes())
            except OSError as exc:
                raise ValueError(f"tinylm: the standard-library corpus needs {root / name}, which cannot be read "
                                 f"({exc.strerror}); train on a file of your own with text=PATH (--text)") from None
        parts.append(b"".join(chunks))
    info = {"corpus": "python-stdlib", "python": ".".join(map(str, sys.version_info[:3])),
            "corpus_sha256": _sha256(parts), "corpus_bytes": sum(map(len, parts))}
    return parts, info


def text_corpus(path: str | Path, context: int) -> tuple[list[bytes], dict[str, Any]]:
    """A user's text file split by position (TEXT_SPLIT), and what identifies it; one-line ValueErrors for a
    path that is not a str or Path, a missing, unreadable, empty, too short or too large (MAX_TEXT_BYTES) file.
    The parts are read one after another (no copy of the whole file besides them)."""
    if not isinstance(path, (str, PathLike)) or isinstance(path, bytes):
        raise _check.fail("tinylm", "text", "the path of a text file (a str or a Path)", path)
    try:
        p = Path(path).expanduser()
        exists, is_file = p.exists(), p.is_file()
    except (TypeError, ValueError, OSError) as exc:  # a NUL in the name, a path object that is not one
        raise ValueError(f"tinylm: text {_check.shown(path)} is not a usable path ({exc})") from None
    name = _check.shown(str(path))
    if not is_file:
        raise ValueError(f"tinylm: text file {name} does not exist" if not exists
                         else f"tinylm: text {name} is not a file")
    try:
        with p.open("rb") as fh:
            n = os.fstat(fh.fileno()).st_size
            if n > MAX_TEXT_BYTES:
                raise ValueError(f"tinylm: text file {name} is {n} bytes, more than the {MAX_TEXT_BYTES} "
                                 f"(MAX_TEXT_BYTES, 256 MiB) a tinylm task reads; give a shorter excerpt")
            cut1, cut2 = int(n * TEXT_SPLIT[0]), int(n * (TEXT_SPLIT[0] + TEXT_SPLIT[1]))
            parts = [fh.read(cut1), fh.read(cut2 - cut1), fh.read(MAX_TEXT_BYTES - cut2 + 1)]
    except OSError as exc:
        raise ValueError(f"tinylm: cannot read text file {name} ({exc.strerror})") from None
    n = sum(map(len, parts))  # what was read (a file that changed size meanwhile is read as it was)
    if n > MAX_TEXT_BYTES:
        raise ValueError(f"tinylm: text file {name} grew past {MAX_TEXT_BYTES} bytes (MAX_TEXT_BYTES) while read")
    if not n:
        raise ValueError(f"tinylm: text file {name} is empty")
    need = context + 1
    if min(map(len, parts)) < need:
        raise ValueError(f"tinylm: text file {name} is too short ({n} bytes): each of its train/val/test "
                         f"parts (80/10/10%) needs one window of context + 1 = {need} bytes, so at least "
                         f"{10 * need} bytes")
    return parts, {"corpus": "text", "corpus_sha256": _sha256(parts), "corpus_bytes": n}


def _sha256(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()


def windows(text: bytes, context: int, limit: int | None = None, spread: str = "even") -> Split:
    """The text's non-overlapping windows (stride `context`) as a Split: x (n, context) int64 bytes, y the next
    bytes. With more than `limit` windows, `limit` of them: evenly spread ("even") or drawn without replacement
    by a fixed generator ("random"), kept in text order."""
    data = np.frombuffer(text, dtype=np.uint8)  # widened to int64 only for the windows kept, below
    n = (len(data) - 1) // context
    starts = np.arange(n, dtype=np.int64) * context
    if limit is not None and n > limit:
        if spread == "random":
            starts = np.sort(np.random.default_rng(0).choice(starts, size=limit, replace=False))
        else:
            starts = starts[np.linspace(0, n - 1, limit).round().astype(np.int64)]
    idx = starts[:, None] + np.arange(context + 1, dtype=np.int64)
    rows = data[idx].astype(np.int64) if n else np.zeros((0, context + 1), dtype=np.int64)
    return Split(np.ascontiguousarray(rows[:, :-1]), np.ascontiguousarray(rows[:, 1:]))


def _load(seed: int, *, parts: list[bytes], context: int, train_windows: int, eval_windows: int) -> Data:
    """The windows of the corpus (the same for every seed: the seed changes the model and the data order)."""
    return Data(windows(parts[0], context, train_windows, "random"), windows(parts[1], context, eval_windows),
                windows(parts[2], context, eval_windows))


# -- the model ----------------------------------------------------------------------------------
def _modules() -> tuple[Any, Any]:
    """The model's classes (built on first use: torch is imported only when a model is)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        """A pre-norm transformer block: causal self-attention, then a 4x GELU MLP, each added back."""

        def __init__(self, width: int, heads: int) -> None:
            super().__init__()
            self.heads = heads
            self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
            # no bias on q, k, v: a key bias has no effect (softmax ignores a shift), so its gradient is rounding
            # noise that Adam would blow up into updates
            self.qkv, self.proj = nn.Linear(width, 3 * width, bias=False), nn.Linear(width, width)
            self.fc, self.out = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

        def forward(self, h: Any) -> Any:
            b, t, d = h.shape
            q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2)
                       for z in self.qkv(self.ln1(h)).split(d, dim=-1))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            h = h + self.proj(a.transpose(1, 2).reshape(b, t, d))
            return h + self.out(F.gelu(self.fc(self.ln2(h))))

    class TinyLM(nn.Module):
        """Bytes (B, T) -> next-byte logits (B, T, 256)."""

        def __init__(self, context: int, width: int, layers: int, heads: int) -> None:
            super().__init__()
            self.tok, self.pos = nn.Embedding(VOCAB, width), nn.Embedding(context, width)
            self.blocks = nn.Sequential(*(Block(width, heads) for _ in range(layers)))
            self.ln, self.head = nn.LayerNorm(width), nn.Linear(width, VOCAB)

        def forward(self, x: Any) -> Any:
            positions = torch.arange(x.shape[-1], device=x.device)
            return self.head(self.ln(self.blocks(self.tok(x) + self.pos(positions))))

    return Block, TinyLM


def model(seed: int, *, context: int = 64, width: int = 64, layers: int = 2, heads: int = 4) -> Any:
    """A fresh TinyLM (torch's default initialisation under the global seed, which the trainer sets)."""
    return _modules()[1](context, width, layers, heads)


# -- the task -----------------------------------------------------------------------------------
def tinylm(text: str | Path | None = None, context: int = 64, width: int = 64, layers: int = 2, heads: int = 4,
           train_windows: int = 1600, eval_windows: int = 256) -> Task:
    """The task (see the module docstring). text: a file to train on instead of the standard-library corpus.
    Sizes: context (bytes a model sees), width, layers, heads (width must be a multiple of heads).
    train_windows: windows per epoch; eval_windows: at most this many windows for validation and for test.
    Defaults: AdamW at 0.003, batch 32, 12 epochs of 50 steps (600 steps, about a minute on one CPU core)."""
    who = "tinylm"
    context = _check.whole(who, "context", context, 1)
    width = _check.whole(who, "width", width, 1)
    layers = _check.whole(who, "layers", layers, 1)
    heads = _check.whole(who, "heads", heads, 1)
    if width % heads:
        raise ValueError(f"tinylm: width ({width}) must be a multiple of heads ({heads})")
    train_windows = _check.whole(who, "train_windows", train_windows, 1)
    eval_windows = _check.whole(who, "eval_windows", eval_windows, 1)
    parts, info = stdlib_corpus() if text is None else text_corpus(text, context)
    sizes = {"context": context, "width": width, "layers": layers, "heads": heads,
             "train_windows": train_windows, "eval_windows": eval_windows}
    where = "the standard-library sources of Python " + info["python"] if text is None else f"{text}"
    return Task(
        name="tinylm",
        description=f"a byte-level transformer ({layers} layers, width {width}, context {context}) predicting the "
        f"next byte of {where}; metric: bits per byte",
        loss="lm", load=partial(_load, parts=parts, context=context, train_windows=train_windows,
                                eval_windows=eval_windows),
        model=partial(model, context=context, width=width, layers=layers, heads=heads),
        epochs=12, batch_size=32, optimizer="adamw", lr=0.003, unit="steps",
        options={"text": None if text is None else str(text), **sizes},
        identity={**info, **sizes},
    )
