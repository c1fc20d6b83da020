"""A throwaway PostgreSQL server for the tests (and bench/ledger.py): the installed PostgreSQL binaries (Debian's
`postgresql` package, which `make test` installs when missing), `initdb` into a temporary folder, `pg_ctl start`
on a free loopback port with the Unix socket in that folder, `pg_ctl stop -m immediate` at the end.

PostgreSQL refuses to run as root (`initdb: cannot be run as root`). As root (CI containers), the server's
commands run as an unprivileged user (`postgres` when the package created it, else `nobody`) through
subprocess's `user=`/`group=` (no sudo or runuser needed), in a folder under /tmp owned by that user (pytest's
own tmp folders are private to root, and a Unix socket path must stay under 108 bytes).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USER = "bot"


def find_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: the newest /usr/lib/postgresql/*/bin (Debian, Ubuntu), else PATH."""

    def version(path: str) -> int:
        match = re.search(r"/postgresql/(\d+)/", path)
        return int(match.group(1)) if match else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    for initdb in [*found, *([on_path] if on_path else [])]:
        folder = Path(initdb).parent
        if (folder / "pg_ctl").exists():
            return folder
    return None


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    password: str
    socket_dir: Path

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        return (
            f"postgresql://{USER}:{self.password if password is None else password}@{self.host}:{self.port}/{database}"
        )

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def temporary_postgres(*, durable: bool = False, password: str = "test-only-pw-0c41") -> Iterator[Server]:
    """A running server, stopped and deleted afterwards. `durable=False` turns fsync off (tests only: a crash of
    the machine could corrupt it); `durable=True` keeps PostgreSQL's defaults, for measurements."""
    bindir = find_bin()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL binaries (initdb, pg_ctl): apt-get install postgresql")
    as_user: dict[str, Any] = {}
    folder = Path(tempfile.mkdtemp(prefix="bot-pg-"))
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            account = pwd.getpwnam("nobody")
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        os.chown(folder, account.pw_uid, account.pw_gid)
    data, log = folder / "data", folder / "server.log"
    pwfile = folder / "pw"
    pwfile.write_text(password + "\n")
    if as_user:
        os.chown(pwfile, as_user["user"], as_user["group"])

    def run(*args: str) -> None:
        done = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=120, **as_user)
        if done.returncode:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-2000:]}{tail}")

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}", "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")  # fmt: skip
        pwfile.unlink()
        options = f"-c listen_addresses=127.0.0.1 -k {folder}"
        if not durable:
            options += " -c fsync=off -c full_page_writes=off"
        for attempt in range(3):  # another process may take the free port first
            port = free_port()
            try:
                run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                    "-o", f"-p {port} {options}", "start")  # fmt: skip
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        try:
            yield Server("127.0.0.1", port, password, folder)
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
