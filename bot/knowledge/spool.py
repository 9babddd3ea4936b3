"""Arrays a build appends to block by block: held in memory, or written to a ``.npy`` file as they grow.

A full build of a million chunks writes its large columns (vectors, texts, BM25) straight into the
snapshot's folder this way (bot/knowledge/snapshot.py), so the build never holds them; a small build
(tests, the delta segment of a refresh) keeps them in memory. Both give the same arrays.
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from bot.knowledge.columns import Interner, Postings

HEADER_BYTES = 128  # a .npy version 1.0 header, room for any shape of up to two dimensions
READ_ROWS = 1 << 20  # rows read back from a file at a time
RANGE_ROWS = 1 << 21  # rows of a range of keys sorted at once by :func:`grouped` (64 ranges at most)


def npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """The .npy (format 1.0) header of a C-ordered array, padded to :data:`HEADER_BYTES`."""
    fields = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": tuple(int(n) for n in shape)}  # fmt: skip
    text = repr(fields).encode("latin1")
    pad = HEADER_BYTES - 10 - len(text) - 1
    if pad < 0:
        raise ValueError(f"shape {shape} does not fit a {HEADER_BYTES}-byte .npy header")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", HEADER_BYTES - 10) + text + b" " * pad + b"\n"


def create_private(path: Path) -> int:
    """A new file readable by its owner only (it holds what the store holds)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


class Spool:
    """Rows appended in blocks; :meth:`finish` gives them as one array (``(rows, *tail)``).

    With a ``folder`` the rows go to ``folder/<name>.npy`` as they come and :meth:`finish` maps the
    file read-only; without one they are kept in memory.
    """

    def __init__(self, dtype: DTypeLike, folder: Path | None = None, name: str = "") -> None:
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self.tail: tuple[int, ...] | None = None
        self.path = folder / f"{name}.npy" if folder is not None else None
        self._blocks: list[np.ndarray] = []
        self._file = None
        if self.path is not None:
            self._file = open(create_private(self.path), "wb")  # noqa: SIM115 - closed by finish/discard
            self._file.write(b"\0" * HEADER_BYTES)

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, self.dtype)
        if self.tail is None:
            self.tail = block.shape[1:]
        elif block.shape[1:] != self.tail:
            raise ValueError(f"rows of shape {block.shape[1:]} appended to rows of shape {self.tail}")
        if not len(block):
            return
        self.rows += len(block)
        if self._file is not None:
            self._file.write(block.data)
        else:
            self._blocks.append(block)

    def blocks(self) -> Iterator[np.ndarray]:
        """The rows appended so far, a block at a time (at most :data:`READ_ROWS` from a file)."""
        if self._file is None:
            yield from self._blocks
            return
        assert self.path is not None
        self._file.flush()
        width = int(np.prod(self.tail or ()))
        rows = READ_ROWS
        with open(self.path, "rb") as src:
            src.seek(HEADER_BYTES)
            for start in range(0, self.rows, rows):
                count = min(rows, self.rows - start)
                yield np.fromfile(src, self.dtype, count * width).reshape(count, *(self.tail or ()))

    def finish(self, tail: tuple[int, ...] | None = None) -> np.ndarray:
        """All the rows (``tail``: the shape of a row when no row was appended)."""
        shape = (self.rows, *(self.tail if self.tail is not None else tail or ()))
        if self._file is None:
            out = np.empty(shape, self.dtype)  # filled block by block: never two copies at once
            filled = 0
            self._blocks.reverse()
            while self._blocks:
                block = self._blocks.pop()
                out[filled : filled + len(block)] = block
                filled += len(block)
            return out
        assert self.path is not None
        self._file.seek(0)
        self._file.write(npy_header(self.dtype, shape))
        self._file.close()
        self._file = None
        mapped: np.ndarray = np.load(self.path, mmap_mode="r", allow_pickle=False)
        return mapped

    def take(self) -> np.ndarray:
        """All the rows as one array in memory; the spool is emptied (its file deleted)."""
        parts = list(self.blocks())
        self.discard()
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.zeros((0, *(self.tail or ())), self.dtype)

    def discard(self) -> None:
        """Forget the rows (a scratch spool: its file is deleted)."""
        self._blocks.clear()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _ranges(indptr: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive ranges of keys of about :data:`RANGE_ROWS` rows each (a single key may have more),
    at most ~64 ranges; ``indptr``: the cumulated row count of each key."""
    rows = max(RANGE_ROWS, int(indptr[-1]) // 64)
    ranges, lo, keys = [], 0, len(indptr) - 1
    while lo < keys:
        hi = int(np.searchsorted(indptr, indptr[lo] + rows, side="right")) - 1
        hi = min(max(hi, lo + 1), keys)
        ranges.append((lo, hi))
        lo = hi
    return ranges


def grouped(
    key: Spool, values: Sequence[Spool], rank: np.ndarray, indptr: np.ndarray, folder: Path | None, name: str
) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """The rows of ``values`` grouped by the rank of their ``key`` (``rank[key]``; ascending, rows in
    their order within a rank): ``(ranks, values)`` for one range of ranks after another. ``indptr``
    holds the cumulated row count of each rank.

    One pass deals the rows into scratch spools, one per range of ranks; each range is then sorted
    alone, so no step sorts, or holds, all the rows. The input spools are discarded.
    """
    ranges = _ranges(indptr)
    bounds = np.array([lo for lo, _ in ranges], np.int64)
    columns = (key, *values)
    buckets = [[Spool(c.dtype, folder, f"scratch.{name}.{i}.{j}") for j, c in enumerate(columns)]
               for i in range(len(ranges))]  # fmt: skip
    try:
        for block in zip(*(c.blocks() for c in columns), strict=True):
            ranked = rank[block[0]]
            which = (np.searchsorted(bounds, ranked, side="right") - 1).astype(np.int16)
            order = np.argsort(which, kind="stable")  # a radix sort; rows keep their order in a range
            counts = np.bincount(which, minlength=len(ranges))
            ends = np.cumsum(counts)
            for bucket, start, end in zip(buckets, ends - counts, ends, strict=True):
                part = order[start:end]
                for spool, column in zip(bucket, (ranked, *block[1:]), strict=True):
                    spool.append(column[part])
        for c in columns:
            c.discard()
        for bucket in buckets:
            ranked, *rest = (spool.take() for spool in bucket)
            order = np.argsort(ranked, kind="stable")
            yield ranked[order], [c[order] for c in rest]
    finally:
        for bucket in buckets:
            for spool in bucket:
                spool.discard()


class Pairs:
    """(key, row) pairs added in row order, turned into :class:`Postings` at the end by
    :func:`grouped` (in ``folder``'s scratch files if given; the rows into ``<name>.rows.npy``)."""

    def __init__(self, folder: Path | None, name: str) -> None:
        self.folder, self.name = folder, name
        self.keys = Interner()
        self._key = Spool(np.int32, folder, f"scratch.{name}.key")
        self._row = Spool(np.int32, folder, f"scratch.{name}.row")
        self._count = np.zeros(0, np.int64)

    def add(self, keys: array[int], rows: array[int]) -> None:
        """Pairs of key codes (from :attr:`keys`) and rows."""
        if not keys:
            return
        codes = np.frombuffer(keys, np.int32)
        self._key.append(codes)
        self._row.append(np.frombuffer(rows, np.int32))
        self._count = add_counts(self._count, codes, len(self.keys))

    def postings(self) -> Postings:
        table, rank = self.keys.ranks()
        indptr = np.zeros(len(table) + 1, np.int64)
        np.cumsum(sort_counts(self._count, rank), out=indptr[1:])
        out = Spool(np.int32, self.folder, f"{self.name}.rows")
        for _, (rows,) in grouped(self._key, (self._row,), rank, indptr, self.folder, self.name):
            out.append(rows)
        return Postings(table, indptr, out.finish())


def add_counts(counts: np.ndarray, codes: np.ndarray, size: int) -> np.ndarray:
    """``counts`` (by code) plus the occurrences of each of ``codes``, for codes below ``size``."""
    more = np.bincount(codes, minlength=size).astype(np.int64)
    more[: len(counts)] += counts
    return more


def sort_counts(counts: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Counts by code reordered by rank (codes never counted count 0)."""
    out = np.zeros(len(rank), np.int64)
    out[rank[: len(counts)]] = counts
    return out
