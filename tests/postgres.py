"""A real PostgreSQL server for the tests, started by the test run itself on loopback.

The server binaries come from, in order: GROK_TEST_POSTGRES_BIN (a folder with initdb, pg_ctl, postgres and psql),
the `pgserver` wheel the test extra installs (PostgreSQL built for manylinux, so the README's test command
needs no system package and no manual step; only its binaries are used, not its Python API, which keeps a
lock file and sockets of its own), then the system's own (`pg_config --bindir`, /usr/lib/postgresql/*/bin).

PostgreSQL refuses to run as root: when the tests run as root (a container, a CI runner), the server runs as
the `nobody` user, in a folder of its own. One server per test session (`PostgresServer.shared()`), one fresh
database per test (`new_database`): a test never sees another's rows. When no server can be started, the tests
that need one are skipped with the reason (`pytest -ra` prints it), never silently.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

_NEEDED = ("initdb", "pg_ctl", "postgres", "psql")


def _has_binaries(folder: Path) -> bool:
    return all((folder / name).is_file() and os.access(folder / name, os.X_OK) for name in _NEEDED)


def find_binaries() -> tuple[Path | None, list[str]]:
    """The folder holding initdb, pg_ctl, postgres and psql, and where else was looked (for the skip reason)."""
    looked: list[str] = []
    candidates: list[Path] = []
    if os.environ.get("GROK_TEST_POSTGRES_BIN"):
        candidates.append(Path(os.environ["GROK_TEST_POSTGRES_BIN"]))
    spec = importlib.util.find_spec("pgserver")  # located, not imported: its import sets up lock files
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin")
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if _has_binaries(folder):
            return folder, looked
        looked.append(str(folder))
    return None, looked


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One throwaway cluster: `initdb` in a temporary folder, `postgres` on 127.0.0.1, trust authentication
    (loopback only, nothing to protect), durability switched off (fsync) since the data is thrown away."""

    _shared: PostgresServer | None = None
    _shared_error: str | None = None

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="grok-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "nobody"
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self.bin_dir = self._reachable_copy(bin_dir)
        self._process: subprocess.Popen[bytes] | None = None
        self._databases = itertools.count(1)

    def _reachable_copy(self, bin_dir: Path) -> Path:
        """The binaries where `nobody` can run them. A checkout under a folder only root may enter (a CI
        runner's /root/…) holds the venv, and so pgserver's binaries, out of nobody's reach: copy its
        install (and the libraries its binaries find next to it, by relative path) into this server's own
        folder under /tmp. System binaries are reachable where they are."""
        install = bin_dir.parent
        libs = install.parent.parent / "pgserver.libs"
        if install.name != "pginstall" or install.parent.name != "pgserver":
            return bin_dir
        copy = self.root / "pgserver" / "pginstall"
        for part in ("bin", "lib", "share"):
            shutil.copytree(install / part, copy / part, symlinks=True)
        if libs.is_dir():
            shutil.copytree(libs, self.root / "pgserver.libs", symlinks=True)
        for folder in (self.root / "pgserver", self.root / "pgserver.libs"):
            for path in (folder, *folder.rglob("*")) if folder.exists() else ():
                path.chmod(path.stat().st_mode | 0o555 if path.is_dir() else path.stat().st_mode | 0o444)
        return copy / "bin"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, user=self._user, cwd=self.root, check=False
        )

    def start(self) -> None:
        init = self._run(
            str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {(init.stderr or init.stdout).strip()[-500:]}")
        with self.log_path.open("wb") as log_file:
            self._process = subprocess.Popen(
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=300",
                    "-c",
                    "shared_buffers=32MB",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                user=self._user,
                cwd=self.root,
                start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which stops it in order
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited at start: {self.log_path.read_text()[-500:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                ready = self._run(str(self.bin_dir / "pg_ctl"), "status", "-D", str(self.data), timeout=10)
                if ready.returncode == 0 and "accepting" in self._status_line():
                    return
            time.sleep(0.05)
        raise RuntimeError("postgres did not accept connections within 30 s")

    def _status_line(self) -> str:
        """postmaster.pid's last line says `ready` once the server accepts connections."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return ""
        return "accepting" if lines and lines[-1].strip() == "ready" else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()  # smart shutdown is not needed: the data is thrown away
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        """A fresh, empty database on this server; returns its URL."""
        name = f"t{os.getpid()}_{next(self._databases)}"
        made = self._run(
            str(self.bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", f'CREATE DATABASE "{name}"',
        )  # fmt: skip
        if made.returncode != 0:
            raise RuntimeError(f"CREATE DATABASE failed: {made.stderr.strip()}")
        return self.url(name)

    @classmethod
    def shared(cls) -> PostgresServer:
        """The session's server, started on first use; skips the calling test (with why) if none can be."""
        if cls._shared is None and cls._shared_error is None:
            bin_dir, looked = find_binaries()
            if bin_dir is None:
                cls._shared_error = (
                    "no PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) found; looked in: "
                    + (", ".join(looked) or "nothing (install the test extra: pip install -e '.[test]')")
                )
            else:
                server = cls(bin_dir)
                try:
                    server.start()
                except (OSError, RuntimeError, subprocess.SubprocessError, KeyError) as exc:
                    server.stop()
                    cls._shared_error = f"cannot start PostgreSQL from {bin_dir}: {exc}"
                else:
                    cls._shared = server
                    atexit.register(server.stop)
        if cls._shared is None:
            pytest.skip(f"PostgreSQL tests skipped: {cls._shared_error}")
        return cls._shared
