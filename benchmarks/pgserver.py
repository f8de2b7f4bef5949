"""Start a throwaway PostgreSQL server for the benchmarks, and stop it afterwards.

The same starter as ``tests/support/pgserver.py`` (benchmarks do not import
from the tests): keep the two in step.

The server runs from a fresh ``initdb`` in a temporary folder, listens on
127.0.0.1 on a free port (and on a Unix socket in that folder), trusts
loopback connections, and is deleted on stop.  PostgreSQL refuses to run as
root, so as root the server runs as a system user (``pcollect``), created
when missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

SYSTEM_USER = "pcollect"


class PostgresNotFound(RuntimeError):
    """The PostgreSQL server programs are not on this machine."""


def find_bin_dir() -> Path:
    """Return the folder that holds ``initdb`` and ``pg_ctl``."""
    on_path = shutil.which("initdb"), shutil.which("pg_ctl")
    if all(on_path):
        return Path(str(on_path[0])).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    for initdb in reversed(candidates):
        folder = Path(initdb).parent
        if (folder / "pg_ctl").exists():
            return folder
    raise PostgresNotFound(
        "PostgreSQL server programs (initdb, pg_ctl) not found on PATH or in "
        "/usr/lib/postgresql/*/bin; install them with `bash .ci/postgres.sh` "
        "(apt-get install postgresql)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


class PostgresServer:
    """A PostgreSQL server of our own; ``start()`` then ``stop()``."""

    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="pcollect-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self.port = 0
        self.user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self.user = _ensure_user(SYSTEM_USER)
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _run(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user.pw_name, "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120
        )

    def _check(self, result: subprocess.CompletedProcess[str], what: str) -> None:
        if result.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise RuntimeError(
                f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{log}"
            )

    def start(self) -> PostgresServer:
        result = self._run(
            ["initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
             "--locale=C", "--no-sync"]
        )  # fmt: skip
        self._check(result, "initdb")
        for _attempt in range(3):
            self.port = free_port()
            options = (
                f"-h 127.0.0.1 -p {self.port} -k {self.root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            result = self._run(
                ["pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", options,
                 "-w", "-t", "60", "start"]
            )  # fmt: skip
            if result.returncode == 0:
                return self
        self._check(result, "pg_ctl start")
        return self

    def stop(self) -> None:
        try:
            if self.data.exists():
                self._run(["pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
