"""Real local services for the multi-process tests (``test_fleet``, ``test_crash_safety``).

- :func:`postgres_server`: ``TEST_POSTGRES_URL`` when set (CI exports it), else a throwaway cluster
  started with ``.ci/start-postgres`` in its *own* data folder and port (``PGDATA_TEST`` /
  ``PGPORT_TEST``), so a cluster that CI or another run keeps in the default folder is left alone.
- :func:`fresh_database`: ``CREATE DATABASE`` on that server (psycopg), dropped again afterwards.
- :func:`chroma_server`: a real ``chroma run`` on 127.0.0.1 and a free port.
- :func:`stop`: SIGTERM, then SIGKILL — every process a test starts ends through it.

Nothing here listens on or connects to any address but 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers_chroma import child_env, free_port

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


class PostgresUnavailable(RuntimeError):
    """``.ci/start-postgres`` failed; the message is its stderr."""


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], *, grace: float = 15.0) -> int | None:
    """SIGTERM ``proc`` (only that pid), wait up to ``grace`` s, then SIGKILL. Returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    return proc.returncode


# --- PostgreSQL ----------------------------------------------------------------------------------------


@contextmanager
def postgres_server() -> Iterator[str]:
    """A server URL (``postgresql+psycopg://…/postgres``) whose user may create databases.

    Raises :class:`PostgresUnavailable` (with the script's stderr) if ``.ci/start-postgres`` fails.
    """
    given = os.environ.get("TEST_POSTGRES_URL")
    if given:
        yield given
        return
    # Under /tmp itself: the script runs the server as the `postgres` user, who cannot enter the
    # root-only pytest temp folders. The script creates (and stop-postgres removes) the folder.
    data = Path("/tmp") / f"closer-test-pg-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "PGDATA_TEST": str(data), "PGPORT_TEST": str(free_port())}
    try:
        started = subprocess.run(
            ["bash", str(REPO / ".ci" / "start-postgres")],
            env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise PostgresUnavailable(f"timed out after 900 s: {exc.stderr or ''}") from None
    except OSError as exc:  # no bash at all
        raise PostgresUnavailable(str(exc)) from None
    try:
        if started.returncode != 0:
            raise PostgresUnavailable(f"exit {started.returncode}: {started.stderr.strip()[-2000:]}")
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(
            ["bash", str(REPO / ".ci" / "stop-postgres")],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )


def _libpq(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as a plain libpq URI for psycopg."""
    import sqlalchemy as sa

    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_database(server_url: str, prefix: str = "closer_test") -> Iterator[str]:
    """A new, empty database on ``server_url``; yields its ``STATE_URL``, drops it at the end."""
    import psycopg
    import sqlalchemy as sa
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(server_url), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(server_url), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def query(state_url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Rows of one read-only query on a PostgreSQL ``STATE_URL``."""
    import psycopg

    with psycopg.connect(_libpq(state_url), autocommit=True, connect_timeout=10) as conn:
        return list(conn.execute(sql, params).fetchall())


# --- Chroma server ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChromaServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


def _heartbeat(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never a proxy
    try:
        with opener.open(f"{url}/api/v2/heartbeat", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def chroma_server(root: Path, *, startup_timeout: float = 60.0) -> Iterator[ChromaServer]:
    """``chroma run --path root/db`` on 127.0.0.1 and a free port, stopped at the end."""
    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.is_file():
        raise RuntimeError(f"{chroma} is missing: chromadb installs it")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://{HOST}:{port}"
    log = root / "chroma.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(chroma), "run", "--path", str(root / "db"), "--host", HOST, "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=child_env(), cwd=root,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + startup_timeout
        while not _heartbeat(url):
            if process.poll() is not None:
                raise RuntimeError(
                    f"chroma run exited with {process.returncode}:\n{log.read_text(errors='replace')}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"chroma run not ready after {startup_timeout:.0f} s:\n{log.read_text()}")
            time.sleep(0.1)
        yield ChromaServer(url, process, log)
    finally:
        stop(process)
