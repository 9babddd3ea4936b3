"""Arrays a build appends to block by block: held in memory, or written to a ``.npy`` file as they grow.

A full build of a million chunks writes its large columns (vectors, texts, BM25) straight into the
snapshot's folder this way (bot/knowledge/snapshot.py), so the build never holds them; a small build
(tests, the delta segment of a refresh) keeps them in memory. Both give the same arrays.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

HEADER_BYTES = 128  # a .npy version 1.0 header, room for any shape of up to two dimensions
READ_ROWS = 1 << 22  # rows read back from a file at a time


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

    def discard(self) -> None:
        """Forget the rows (a scratch spool: its file is deleted)."""
        self._blocks.clear()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
