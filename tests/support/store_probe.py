"""Read what an embedded Chroma store holds, from a process of its own (never the writer's).

``python -m tests.support.store_probe CHROMA_PATH`` prints one JSON object:
``{"count": N, "dimension": D, "chunks": [{"id", "source_key", "n_chunks", "position", "content_hash",
"dim"}, ...]}`` — ``dimension`` is the collection's, ``dim`` the length of each stored vector
(``{"count": 0, "dimension": 0, "chunks": []}`` when Closer's collection does not exist yet). It only reads: no
collection is created. A fresh process each time, so nothing is cached between two looks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.knowledge.store import COLLECTION, PAGE


def probe(path: Path) -> dict[str, Any]:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    if COLLECTION not in {c.name for c in client.list_collections()}:
        return {"count": 0, "dimension": 0, "chunks": []}
    col = client.get_collection(COLLECTION, embedding_function=None)
    chunks: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = col.get(include=["metadatas", "embeddings"], limit=PAGE, offset=offset)
        if not page["ids"]:
            break
        for cid, meta, vector in zip(page["ids"], page["metadatas"], page["embeddings"], strict=True):
            chunks.append({"id": cid, "source_key": meta["source_key"], "n_chunks": int(meta["n_chunks"]),
                           "position": int(meta["position"]), "content_hash": meta["content_hash"],
                           "dim": 0 if vector is None else len(vector)})  # fmt: skip
        offset += len(page["ids"])
    dimension = int((col.metadata or {}).get("dimension", 0))
    return {"count": int(col.count()), "dimension": dimension, "chunks": chunks}


def run_probe(path: Path, env: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    """:func:`probe` in a child process (``env`` as for any closer child)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.store_probe", str(path)],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"store probe failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


if __name__ == "__main__":
    print(json.dumps(probe(Path(sys.argv[1]))))
