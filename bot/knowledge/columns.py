"""Compact columns for the search index: strings in one blob, and row postings keyed by strings.

A million chunks held as Python objects (a dataclass per chunk, a ``str`` per text, a dict of
numpy arrays per source) cost several GB; the same data as a few flat numpy arrays costs tens of MB
and can be memory-mapped from a snapshot file.
"""

from __future__ import annotations

import itertools
import os
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar, overload

import numpy as np

EMPTY_ROWS = np.zeros(0, np.int64)
T = TypeVar("T")


def search_sorted(get: Callable[[int], str], size: int, wanted: str, lo: int = 0) -> int:
    """Position ``i`` with ``get(i) == wanted`` among ascending strings ``lo ≤ i < size``, or -1
    (binary search)."""
    hi = size
    while lo < hi:
        mid = (lo + hi) // 2
        if get(mid) < wanted:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < size and get(lo) == wanted else -1


def prefix_key(s: str) -> int:
    """The first 8 UTF-8 bytes of ``s`` as a big-endian integer (zero-padded): ordered as ``s`` is,
    since UTF-8 byte order is code-point order."""
    return int.from_bytes(s.encode()[:8].ljust(8, b"\0"), "big")


def search_sorted_many(get: Callable[[int], str], keys: np.ndarray, wanted: Sequence[str]) -> np.ndarray:
    """Positions ``i`` with ``get(i) == w`` for each of ``wanted`` (-1 where absent), among ascending
    strings whose :func:`prefix_key` are ``keys``: one vectorized search on the keys, then a binary
    search only among the few strings sharing a key."""
    out = np.full(len(wanted), -1, np.int64)
    if not len(keys) or not len(wanted):
        return out
    want = np.fromiter((prefix_key(w) for w in wanted), np.uint64, len(wanted))
    lows = np.searchsorted(keys, want, "left").tolist()
    highs = np.searchsorted(keys, want, "right").tolist()
    for i, (lo, hi) in enumerate(zip(lows, highs, strict=True)):
        if hi > lo:
            out[i] = search_sorted(get, hi, wanted[i], lo)
    return out


class RowSequence(Sequence[T]):
    """A read-only sequence whose items are made on demand by ``_item(i)`` (nothing held per row)."""

    def _item(self, i: int) -> T:
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...
    def __getitem__(self, i: int | slice) -> T | list[T]:
        size = len(self)
        if isinstance(i, slice):
            return [self._item(j) for j in range(*i.indices(size))]
        if i < 0:
            i += size
        if not 0 <= i < size:
            raise IndexError(i)
        return self._item(i)


class RowView(RowSequence[T]):
    """``size`` items, item ``i`` being ``get(i)``."""

    def __init__(self, size: int, get: Callable[[int], T]) -> None:
        self._size = size
        self._get = get

    def __len__(self) -> int:
        return self._size

    def _item(self, i: int) -> T:
        return self._get(i)


class StringTable(RowSequence[str]):
    """Strings stored as UTF-8 in one byte array with offsets (``offsets[i]:offsets[i + 1]``).

    Built with :meth:`sorted_unique` it is sorted, and :meth:`find` is a binary search.
    """

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self.blob = blob
        self.offsets = offsets
        self._view = memoryview(blob.data)
        # Offsets read one by one (binary searches) through a memoryview: a numpy scalar index costs
        # several times more, and a memory-mapped array's Python-level __getitem__ more still.
        plain = offsets.view(np.ndarray)
        fast = plain.dtype == np.int64 and plain.flags.c_contiguous and len(plain)
        self._offsets: memoryview | np.ndarray = plain.data.cast("B").cast("q") if fast else plain
        self._cache: list[str] | None = None
        self._prefixes: np.ndarray | None = None

    @classmethod
    def of(cls, strings: Iterable[str]) -> StringTable:
        """The strings in the given order."""
        encoded = [s.encode() for s in strings]
        offsets = np.zeros(len(encoded) + 1, np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(np.frombuffer(b"".join(encoded), np.uint8).copy(), offsets)

    @classmethod
    def sorted_unique(cls, strings: Iterable[str]) -> StringTable:
        return cls.of(sorted(set(strings)))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def _item(self, i: int) -> str:
        return self.get(i)

    def get(self, i: int) -> str:
        """String ``i`` (0 ≤ i < len), without the sequence protocol's checks."""
        if self._cache is not None:
            return self._cache[i]
        offsets = self._offsets
        return str(self._view[int(offsets[i]) : int(offsets[i + 1])], "utf-8")

    def cache(self) -> StringTable:
        """Keep the strings decoded (for small tables read per candidate row: types, deals, accounts)."""
        if self._cache is None:
            self._cache = list(self)
        return self

    def __iter__(self) -> Iterator[str]:
        data = bytes(self.blob)
        offsets = self.offsets.tolist()
        for start, end in itertools.pairwise(offsets):
            yield data[start:end].decode()

    def find(self, s: str) -> int:
        """Position of ``s`` in a sorted table, or -1."""
        return search_sorted(self.get, len(self), s)

    def find_many(self, strings: Sequence[str]) -> np.ndarray:
        """Positions of ``strings`` in a sorted table (-1 where absent), many at once."""
        return search_sorted_many(self.get, self.prefix_keys(), strings)

    def prefix_keys(self) -> np.ndarray:
        """:func:`prefix_key` of every string (uint64), computed once from the blob, a block at a time."""
        if self._prefixes is None:
            n, blob, offsets = len(self), np.asarray(self.blob), np.asarray(self.offsets, np.int64)
            keys = np.zeros(n, np.uint64)
            shifts = np.arange(56, -1, -8, dtype=np.uint64)
            for lo in range(0, n, 1 << 18):
                hi = min(n, lo + (1 << 18))
                start = offsets[lo:hi]
                take = np.arange(8) < np.minimum(offsets[lo + 1 : hi + 1] - start, 8)[:, None]
                part = np.zeros((hi - lo, 8), np.uint64)
                part[take] = blob[(start[:, None] + np.arange(8))[take]]
                keys[lo:hi] = (part << shifts).sum(axis=1, dtype=np.uint64)  # disjoint bytes: no carry
            self._prefixes = keys
        return self._prefixes

    def codes(self, strings: Iterable[str]) -> np.ndarray:
        """Positions of ``strings`` (all present) in this sorted table."""
        lookup = {s: i for i, s in enumerate(self)}
        return np.fromiter((lookup[s] for s in strings), np.int32)


def interned(values: Iterable[str]) -> tuple[StringTable, np.ndarray]:
    """A sorted table of the distinct ``values`` and each value's code in it."""
    interner = Interner()
    for value in values:
        interner.add(value)
    return interner.table()


class Interner:
    """Values added one by one, kept as a code each (4 bytes a value, each distinct string once)."""

    def __init__(self) -> None:
        self._code: dict[str, int] = {}
        self.codes = array("i")

    def code(self, value: str) -> int:
        """The code of ``value`` (in order of first appearance), without adding it to :attr:`codes`."""
        return self._code.setdefault(value, len(self._code))

    def add(self, value: str) -> None:
        self.codes.append(self._code.setdefault(value, len(self._code)))

    def __len__(self) -> int:
        return len(self._code)

    def ranks(self) -> tuple[StringTable, np.ndarray]:
        """The distinct values as a sorted table, and the position in it of each code."""
        words = list(self._code)
        order = sorted(range(len(words)), key=words.__getitem__)
        rank = np.empty(len(words), np.int32)
        rank[order] = np.arange(len(words), dtype=np.int32)
        return StringTable.of(words[i] for i in order), rank

    def table(self) -> tuple[StringTable, np.ndarray]:
        """The distinct values as a sorted table, and each added value's position in it."""
        table, rank = self.ranks()
        codes = np.frombuffer(self.codes, np.int32) if len(self.codes) else np.zeros(0, np.int32)
        return table, rank[codes]


class Postings:
    """Rows per key (CSR): ``rows[indptr[k]:indptr[k + 1]]`` are the rows of ``keys[k]``, ascending."""

    def __init__(self, keys: StringTable, indptr: np.ndarray, rows: np.ndarray) -> None:
        self.keys = keys
        self.indptr = indptr
        self.rows = rows

    @classmethod
    def of_codes(cls, keys: StringTable, codes: np.ndarray, *, skip: int = -1) -> Postings:
        """Postings of each row's key code (rows with code ``skip`` left out)."""
        rows = np.flatnonzero(codes != skip) if skip >= 0 else np.arange(len(codes))
        order = rows[np.argsort(codes[rows], kind="stable")]
        counts = np.bincount(codes[rows], minlength=len(keys))
        indptr = np.zeros(len(keys) + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(keys, indptr, order.astype(np.int32))

    @classmethod
    def of_members(cls, sets: StringTable, codes: np.ndarray, sep: str) -> Postings:
        """Postings of the members of each row's set: ``sets[codes[row]]`` is ``sep``-joined keys."""
        members = [[key for key in s.split(sep) if key] for s in sets]
        table, flat = interned(key for keys in members for key in keys)
        ptr = np.zeros(len(members) + 1, np.int64)
        np.cumsum([len(keys) for keys in members], out=ptr[1:])
        count = (ptr[1:] - ptr[:-1])[codes]  # members of each row
        first = np.cumsum(count) - count  # each row's first pair
        rows = np.repeat(np.arange(len(codes), dtype=np.int32), count)
        pairs = np.arange(int(count.sum()), dtype=np.int64) + np.repeat(ptr[:-1][codes] - first, count)
        return cls.of_codes(table, flat[pairs]).remap(rows)

    def remap(self, rows: np.ndarray) -> Postings:
        """The same postings with each stored position replaced by ``rows[position]``."""
        return Postings(self.keys, self.indptr, rows[self.rows] if len(self.rows) else self.rows)

    def get_rows(self, key: str) -> np.ndarray:
        k = self.keys.find(key)
        return EMPTY_ROWS if k < 0 else np.asarray(self.rows[self.indptr[k] : self.indptr[k + 1]], np.int64)

    def head(self, key: str, n: int) -> np.ndarray:
        """The first ``n`` rows of ``key`` (all of them when it has fewer)."""
        k = self.keys.find(key)
        if k < 0:
            return EMPTY_ROWS
        lo = int(self.indptr[k])
        return np.asarray(self.rows[lo : min(lo + n, int(self.indptr[k + 1]))], np.int64)

    def __len__(self) -> int:
        return len(self.keys)


class RowFile:
    """The rows of a 2-D array in a ``.npy`` file, read on demand with ``os.pread``, never mapped.

    The exact float32 vectors are the largest part of a snapshot (1.5 KB a chunk) and a search reads a
    few hundred of them. Memory-mapped, every read row also maps the pages around it (the kernel's
    fault-around), so after a few hundred searches the whole file counted in the process's memory;
    read with ``pread`` they stay in the page cache, shared and reclaimable. The file descriptor is
    held, so a snapshot replaced on disk keeps serving until the index lets it go.
    """

    def __init__(self, path: str) -> None:
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            )
            shape, fortran_order, dtype = read_header(f)
            self.offset = f.tell()
        if len(shape) != 2 or fortran_order:
            raise ValueError(f"{path}: not a C-ordered 2-D array")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        fd = os.open(path, os.O_RDONLY)
        if os.fstat(fd).st_size < self.offset + self.shape[0] * self._row_bytes:
            os.close(fd)
            raise ValueError(f"{path}: shorter than its header says")
        self._fd = fd

    def __len__(self) -> int:
        return self.shape[0]

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            os.close(fd)

    def __getitem__(self, rows: np.ndarray | Sequence[int]) -> np.ndarray:
        """The rows ``rows`` (any order, repeats allowed), one ``pread`` per run of adjacent rows."""
        rows = np.asarray(rows, np.int64).reshape(-1)
        out = np.empty((len(rows), self.shape[1]), self.dtype)
        if len(rows) == 0:
            return out
        if rows.min() < 0 or rows.max() >= self.shape[0]:
            raise IndexError("row out of range")
        order = np.argsort(rows, kind="stable")
        wanted = np.unique(rows[order])
        breaks = np.flatnonzero(np.diff(wanted) != 1) + 1
        block = np.empty((len(wanted), self.shape[1]), self.dtype)
        view = block.data.cast("B")
        at = 0
        for run in np.split(wanted, breaks):
            size = len(run) * self._row_bytes
            got = os.preadv(self._fd, [view[at : at + size]], self.offset + int(run[0]) * self._row_bytes)
            if got != size:
                raise OSError(f"short read of the vector file ({got} of {size} bytes)")
            at += size
        out[order] = block[np.searchsorted(wanted, rows[order])]
        return out
