"""A local snapshot of the search index, keyed by the store's generation (``CACHE_DIR/index/``).

Loading a million chunks from Chroma takes minutes; the snapshot's arrays are memory-mapped in
seconds and only the pages a search touches are read. A full build writes it as it goes, into a
temporary folder renamed into place, so a reader never sees half of one. It is never trusted
blindly: a snapshot whose header (format, generation, row count, BM25 parameters, array shapes) does
not match, or whose files are missing or truncated, is deleted and the index is built from the store.
A snapshot of an older generation is still useful: the index catches up from the store's change log.

The snapshot holds what the store holds (chunk texts, vectors, access metadata): it is written with
owner-only permissions, and CACHE_DIR deserves the same protection as CHROMA_PATH.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from bot.config import Settings
from bot.knowledge.columns import RowFile, StringTable
from bot.knowledge.index import Page, SearchIndex, Segment
from bot.knowledge.lexical import Bm25Part, Bm25Stats, LexicalIndex
from bot.knowledge.spool import create_private
from bot.knowledge.store import COLLECTION

FORMAT = 2  # 2: code_l1 per row (int8 × int8 scoring), exact vectors read with pread
HEADER = "header.json"
BUILDING = ".building"  # locked by the process writing a temporary folder
log = logging.getLogger(__name__)


def snapshot_root(settings: Settings) -> Path:
    """The snapshot folder of the configured store (one per store, so stores never mix)."""
    where = settings.chroma_url or str(settings.chroma_path.resolve())
    key = hashlib.sha256(f"{where}|{COLLECTION}".encode()).hexdigest()[:16]
    return settings.cache_dir / "index" / key


def _arrays(index: SearchIndex) -> dict[str, np.ndarray]:
    (segment,) = index.segments
    (part,) = index.lexical.parts
    arrays = segment.arrays()
    arrays["bm25.vocab.blob"], arrays["bm25.vocab.offsets"] = part.vocab.blob, part.vocab.offsets
    arrays["bm25.indptr"], arrays["bm25.indices"], arrays["bm25.data"] = part.indptr, part.indices, part.data
    return arrays


def build(pages: Iterable[Page], root: Path, generation: str, *, k1: float, b: float) -> SearchIndex:
    """The full build: the index of ``pages`` written as the snapshot of ``generation`` while the
    pages arrive, then opened memory-mapped with the same checks as at the next start.

    The large arrays (vectors, texts, BM25) go to the snapshot's temporary folder as they are built
    (bot/knowledge/spool.py), never all in memory; the folder is renamed into place only once
    complete, so a crash leaves no snapshot that loads (its ``.tmp-*`` folder goes at the next build;
    the folder of a build still running in another process does not). Older snapshots are deleted.
    Raises OSError when ``root`` cannot be written.
    """
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = root / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir(mode=0o700)
    lock = create_private(tmp / BUILDING)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held until the folder is in place: see _in_use
        final = _write(pages, tmp, root, generation, k1=k1, b=b)
        for other in root.iterdir():
            if other != final and not _in_use(other):
                shutil.rmtree(other, ignore_errors=True)
    finally:
        os.close(lock)
    return _open(final, k1=k1, b=b)[0]


def _write(pages: Iterable[Page], tmp: Path, root: Path, generation: str, *, k1: float, b: float) -> Path:
    try:
        index = SearchIndex.from_pages(pages, k1=k1, b=b, spill=tmp)
        shapes: dict[str, list[object]] = {}
        for name, array in _arrays(index).items():
            path = tmp / f"{name}.npy"
            if not (isinstance(array, np.memmap) and Path(str(array.filename)) == path):
                with open(create_private(path), "wb") as out:
                    np.save(out, np.ascontiguousarray(array))
            shapes[name] = [list(array.shape), array.dtype.str]
        lexical = index.lexical
        header = {"format": FORMAT, "generation": generation, "rows": len(index), "k1": lexical.k1,
                  "b": lexical.b, "n_docs": lexical.stats.n_docs, "avgdl": lexical.stats.avgdl,
                  "arrays": shapes}  # fmt: skip
        del index, array, lexical
        with open(create_private(tmp / HEADER), "w") as out:
            out.write(json.dumps(header))
        final = root / f"gen-{generation}"
        shutil.rmtree(final, ignore_errors=True)  # the same generation built by another process
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (final / BUILDING).unlink()
    return final


def _in_use(folder: Path) -> bool:
    """Whether ``folder`` is a temporary folder another build is still writing (it holds the lock of
    its ``.building`` file; a crashed build's lock went with its process)."""
    if not folder.name.startswith(".tmp-"):
        return False
    try:
        fd = os.open(folder / BUILDING, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def load(root: Path, *, k1: float, b: float) -> tuple[SearchIndex, str] | None:
    """The newest snapshot under ``root`` as a memory-mapped index and its generation, or None.
    A snapshot that does not check out is deleted."""
    if not root.is_dir():
        return None
    found = sorted((p for p in root.glob("gen-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    if not found:
        return None
    folder = found[-1]
    try:
        return _open(folder, k1=k1, b=b)
    except Exception as exc:  # noqa: BLE001 - any fault in a cache means: rebuild it
        log.warning("index snapshot %s ignored (%s: %s); rebuilding from the store", folder.name,
                    type(exc).__name__, str(exc)[:200])  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
        return None


class SnapshotError(Exception):
    pass


def _open(folder: Path, *, k1: float, b: float) -> tuple[SearchIndex, str]:
    header = json.loads((folder / HEADER).read_text())
    generation = str(header.get("generation", ""))
    if header.get("format") != FORMAT or folder.name != f"gen-{generation}":
        raise SnapshotError("another format or generation")
    if header.get("k1") != k1 or header.get("b") != b:
        raise SnapshotError("built with other BM25 parameters")
    arrays: dict[str, np.ndarray] = {}
    for name, (shape, dtype) in header["arrays"].items():
        array = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        if list(array.shape) != shape or array.dtype.str != dtype:
            raise SnapshotError(f"{name} is not the shape the header says")
        arrays[name] = array
    rows = int(header["rows"])
    for name in ("public", "scale", "code_l1", "source_codes", "reader_codes", "type_codes"):
        if len(arrays[name]) != rows:
            raise SnapshotError(f"{name} does not have {rows} rows")
    if arrays["codes"].shape[0] != rows or arrays["exact"].shape[0] != rows:
        raise SnapshotError("vectors do not match the row count")
    for name in [n[: -len(".blob")] for n in arrays if n.endswith(".blob")]:
        offsets = arrays[f"{name}.offsets"]
        if len(offsets) == 0 or int(offsets[-1]) != len(arrays[f"{name}.blob"]):
            raise SnapshotError(f"{name} offsets do not match its data")
    for name in [n[: -len(".indptr")] for n in arrays if n.endswith(".indptr")]:
        rows_of = arrays[f"{name}.rows"] if f"{name}.rows" in arrays else arrays[f"{name}.indices"]
        if int(arrays[f"{name}.indptr"][-1]) != len(rows_of):
            raise SnapshotError(f"{name} postings do not match their rows")
    # Every search reads a rep's 2–3% of the int8 codes, scattered over the whole file, so every page
    # is touched within a few hundred searches anyway; read once here, the searches take no page faults.
    arrays["codes"] = np.array(arrays["codes"])
    _read_ahead(folder, skip={"codes.npy"})  # just read whole
    segment = Segment.of_arrays(arrays)
    segment.exact = RowFile(str(folder / "exact.npy"))  # read per search, not mapped: see RowFile
    if len(segment.chunk_ids) != rows or len(segment.texts) != rows:
        raise SnapshotError("texts or ids do not match the row count")
    vocab = StringTable(arrays["bm25.vocab.blob"], arrays["bm25.vocab.offsets"])
    part = Bm25Part(vocab, arrays["bm25.indptr"], arrays["bm25.indices"], arrays["bm25.data"], rows)
    lexical = LexicalIndex([part], Bm25Stats(int(header["n_docs"]), float(header["avgdl"])), k1=k1, b=b)
    return SearchIndex.of_segments([segment], lexical), generation


def _read_ahead(folder: Path, *, skip: set[str], block: int = 16 << 20) -> None:
    """Read every file of the snapshot once, so its pages are in the kernel's page cache before the
    first search (as search engines preload their index files). A search reads a few hundred exact
    vectors and the posting lists of its words at scattered places: from a cold cache each is a disk
    read, and the first minutes after a start had a p95 in the hundreds of milliseconds at 1M chunks.
    The pages are the kernel's, shared and reclaimable: read, not mapped, they do not count in this
    process's memory. ~3 GB at a million chunks: seconds, within the start-up budget."""
    buffer = bytearray(block)
    for path in sorted(p for p in folder.glob("*.npy") if p.name not in skip):
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buffer):
                pass


def discard(root: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(root)
