"""Where the state shared by `bot serve` processes lives: SQLite files in `BOT_DATA_DIR` (the embedded default),
or one PostgreSQL database (`BOT_DATABASE_URL=postgresql://…`) that every replica on every machine shares.

Two stores keep their tables here: the 👍/👎 feedback (bot/feedback.py) and the Slack ledger (bot/slack_ledger.py).
Each writes its own SQL with `?` placeholders (psycopg's `%s` for PostgreSQL), the same for both databases but
for its `CREATE TABLE` statements and a new row's id (SQLite's `lastrowid`, PostgreSQL's `RETURNING`), and needs
only what `SQLite` and `Postgres` below both offer: `create` (the schema, on first use), `transaction` (a write
transaction, committed at the end of the block unless it raised or called `rollback()`), `execute` (one statement
on its own) and `query`.

PostgreSQL is reached with psycopg 3 (the optional extra `bot[postgres]`), imported only when a URL asks for it.
Each store keeps a small pool of connections (at most POOL_MAX in use, POOL_SIZE kept idle); one that dropped
while it sat idle (a server restart, a failover, a proxy's idle timeout) is replaced on its next use. A server
that cannot be reached is a `DatabaseError` naming the URL's host, port and database, never its password.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from .config import Settings

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_S = 5  # a server that does not answer: `bot serve` fails after this long, not libpq's forever
POOL_SIZE = 4  # idle connections kept per store and process
POOL_MAX = 8  # connections open at once per store and process (threads beyond it wait): replicas x workers x 16
POOL_WAIT_S = 30.0  # how long a thread waits for one of them before its request fails
SCHEMA_LOCK = 0x626F74  # PostgreSQL advisory lock ("bot") held while a replica creates the tables

T = TypeVar("T")
Params = Sequence[Any]


class DatabaseError(ConnectionError):
    """The database cannot be reached or used; its message is one line, without the URL's password.
    (A ConnectionError, so the command line prints it as one line, as it does other unreachable things.)"""


def is_postgres(url: str) -> bool:
    return url.strip().lower().startswith(POSTGRES_SCHEMES)


def describe(url: str) -> str:
    """`host:port/database` of a PostgreSQL URL, for messages: neither the user nor the password."""
    parts = urlsplit(url.strip())
    host = unquote(parts.netloc.rpartition("@")[2])
    if not host:  # `postgresql:///bot?host=/run/postgresql`: a Unix socket directory
        host = parse_qs(parts.query).get("host", ["localhost"])[0]
    return f"{host}/{unquote(parts.path.lstrip('/')) or '(default database)'}"


def _one_line(exc: BaseException, url: str) -> str:
    """The first line of a driver's message, with the URL's password blanked should it ever appear there."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
    password = urlsplit(url.strip()).password
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(str(secret), "****")
    return text.removeprefix("connection failed: ")


def location(settings: Settings, sqlite_file: str) -> Path | str:
    """Where a store keeps its tables: the PostgreSQL URL when `BOT_DATABASE_URL` is set, else its own SQLite file
    in `BOT_DATA_DIR` (`feedback.sqlite3`, `slack.sqlite3`, as always)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return settings.data_dir / sqlite_file


def connect(where: Path | str, *, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> SQLite | Postgres:
    """A SQLite file (a path) or a PostgreSQL database (a `postgresql://` URL). `synchronous="NORMAL"` waits for no
    disk flush per commit: SQLite's `synchronous=NORMAL` in WAL mode, PostgreSQL's `synchronous_commit=off`. Both
    stay consistent after a crash and may lose only the last moments' commits; what is committed is at once
    visible to every other process and replica, so the unique keys still decide who was first."""
    if isinstance(where, Path):
        return SQLite(where, synchronous=synchronous)
    if is_postgres(where):
        return Postgres(where, durable=synchronous == "FULL")
    raise DatabaseError("BOT_DATABASE_URL must be a postgresql:// URL (unset: SQLite files in BOT_DATA_DIR)")


def check(settings: Settings) -> None:
    """Connect once to the configured PostgreSQL database (nothing to do for SQLite): `bot serve` calls it before
    it starts, so an unreachable server is one clear line at once rather than a failure in every worker."""
    where = location(settings, "")
    if isinstance(where, str):
        connect(where).close()


class Cursor(Protocol):
    """What `Transaction.execute` returns: both drivers' cursors (psycopg's has no `lastrowid`: use RETURNING)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


@dataclass
class Transaction:
    """The statements of one write transaction. `rollback()` undoes them at the end of the block, quietly."""

    _run: Callable[[str, Params], Any]
    rolled_back: bool = False

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        return self._run(sql, params)  # type: ignore[no-any-return]

    def rollback(self) -> None:
        self.rolled_back = True


def enable_wal(db: sqlite3.Connection, *, attempts: int = 50) -> None:
    """Switch a database to WAL, retrying while another process (a second `bot serve` worker starting at
    the same moment) holds the lock: the switch can fail at once with "database is locked" instead of
    waiting for the connection's busy timeout."""
    for attempt in range(attempts):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.1)


class SQLite:
    """One SQLite file in WAL mode, one connection shared by the process's threads (serialised by a lock); the
    `bot serve` workers of one machine share the file, each write transaction taking its lock from the start."""

    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, path: Path, *, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.where = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
        enable_wal(self._db)
        self._db.execute(f"PRAGMA synchronous={'NORMAL' if synchronous == 'NORMAL' else 'FULL'}")

    def create(self, statements: Sequence[str]) -> None:
        with self.transaction() as tx:
            for statement in statements:
                tx.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # the write lock from the start: other processes wait
            tx = Transaction(self._db.execute)
            try:
                yield tx
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("ROLLBACK" if tx.rolled_back else "COMMIT")

    def execute(self, sql: str, params: Params = ()) -> int:
        """One statement in its own transaction; its row count."""
        with self._lock:
            return self._db.execute(sql, params).rowcount

    def query(self, sql: str, params: Params = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        self._db.close()


def _pg(sql: str) -> str:
    """The stores' `?` placeholders as psycopg's `%s` (their SQL has no `?` or `%` of its own)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _no_nul(params: Params) -> Params:
    """PostgreSQL's text cannot hold NUL (SQLite's can): a NUL in a string (a question, a Slack event id sent by
    anyone) is stored as U+FFFD rather than failing the request."""
    if not any(isinstance(p, str) and "\x00" in p for p in params):
        return params
    return tuple(p.replace("\x00", "\ufffd") if isinstance(p, str) else p for p in params)


class Postgres:
    """A PostgreSQL database through psycopg 3: a few pooled connections in autocommit mode, each transaction an
    explicit BEGIN … COMMIT. Connects once at construction, so an unreachable server fails at start."""

    dialect: Literal["postgresql"] = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        durable: bool = True,
        pool_size: int = POOL_SIZE,
        pool_max: int = POOL_MAX,
        connect_timeout: int = CONNECT_TIMEOUT_S,
    ) -> None:
        self.where = describe(url)
        try:
            import psycopg
            from psycopg.conninfo import conninfo_to_dict
        except ImportError:
            raise DatabaseError(
                f"BOT_DATABASE_URL points at PostgreSQL ({self.where}) but psycopg is not installed: "
                "pip install 'bot[postgres]'"
            ) from None
        self._psycopg = psycopg
        try:
            given = conninfo_to_dict(url.strip())
        except psycopg.Error as exc:
            raise DatabaseError(f"BOT_DATABASE_URL is not a valid PostgreSQL URL: {_one_line(exc, url)}") from None
        self._options: dict[str, Any] = {"autocommit": True}
        self._options.update({k: v for k, v in (("connect_timeout", connect_timeout), ("application_name", "bot"))
                              if k not in given})  # fmt: skip
        self._url = url.strip()
        self._durable = durable
        self._pool_size = pool_size
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(pool_max)  # one per connection in use
        self._pool_max = pool_max
        self._closed = False
        self._give(self._take())  # connect now: an unreachable server fails at start

    def _connect(self) -> Any:
        try:
            conn = self._psycopg.connect(self._url, **self._options)
            if not self._durable:
                conn.execute("SET synchronous_commit = off")
            return conn
        except self._psycopg.Error as exc:
            raise DatabaseError(
                f"cannot connect to the database at {self.where}: {_one_line(exc, self._url)}"
            ) from None

    def _take(self) -> Any:
        """An idle connection, or a new one; waits while `pool_max` are in use. Every `_take` ends in a `_give`."""
        if not self._slots.acquire(timeout=POOL_WAIT_S):
            raise DatabaseError(f"all {self._pool_max} connections to the database at {self.where} stayed busy")
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            try:
                conn = self._connect()
            except BaseException:
                self._slots.release()
                raise
        return conn

    def _give(self, conn: Any) -> None:
        """Back to the pool if it is healthy and not in a transaction (and the pool is not full); else closed."""
        try:
            healthy = not conn.closed and not conn.broken
            if healthy and conn.info.transaction_status == self._psycopg.pq.TransactionStatus.IDLE:
                with self._lock:
                    if not self._closed and len(self._idle) < self._pool_size:
                        self._idle.append(conn)
                        return
            conn.close()
        finally:
            self._slots.release()

    def _drop_idle(self) -> None:
        with self._lock:
            stale, self._idle = self._idle, []
        for conn in stale:
            conn.close()

    def _acquire(self, first: Callable[[Any], T]) -> tuple[Any, T]:
        """A connection and the result of `first`, its first statement. A connection that dropped while it sat in
        the pool fails that statement: then the other idle ones (likely gone too) are closed, and `first` runs
        once more on a new connection. Only the first statement is retried, never work already done."""
        conn = self._take()
        try:
            return conn, first(conn)
        except self._psycopg.OperationalError:
            if not conn.broken:
                self._give(conn)
                raise
        except BaseException:
            self._give(conn)
            raise
        conn.close()
        self._drop_idle()
        try:
            conn = self._connect()  # in the slot the dropped one held
        except BaseException:
            self._slots.release()
            raise
        try:
            return conn, first(conn)
        except self._psycopg.OperationalError as exc:
            self._give(conn)
            raise DatabaseError(f"the database at {self.where} failed: {_one_line(exc, self._url)}") from None
        except BaseException:
            self._give(conn)
            raise

    def create(self, statements: Sequence[str]) -> None:
        """The tables, once: concurrent replicas take turns (CREATE TABLE IF NOT EXISTS alone can race)."""
        with self.transaction() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
            for statement in statements:
                tx.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        conn, _ = self._acquire(lambda c: c.execute("BEGIN"))
        tx = Transaction(lambda sql, params: conn.execute(_pg(sql), _no_nul(params)))
        try:
            try:
                yield tx
            except BaseException:
                with suppress(self._psycopg.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("ROLLBACK" if tx.rolled_back else "COMMIT")
        finally:
            self._give(conn)

    def execute(self, sql: str, params: Params = ()) -> int:
        """One statement on its own (autocommit); its row count. Retried on a new connection when the pooled one
        had dropped, so only for statements that may run twice (a delete of expired rows)."""
        conn, rowcount = self._acquire(lambda c: c.execute(_pg(sql), _no_nul(params)).rowcount)
        self._give(conn)
        return int(rowcount)

    def query(self, sql: str, params: Params = ()) -> list[Any]:
        conn, rows = self._acquire(lambda c: c.execute(_pg(sql), _no_nul(params)).fetchall())
        self._give(conn)
        return rows

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._drop_idle()


class Store:
    """Tables in a SQLite file (a path) or a PostgreSQL database (a `postgresql://` URL), created on first use:
    the base of the feedback store and the Slack ledger. A subclass names its tables per dialect (`SCHEMA`),
    its SQLite file in `BOT_DATA_DIR` (`SQLITE_FILE`) and whether a commit waits for the disk (`SYNCHRONOUS`)."""

    SCHEMA: Mapping[str, Sequence[str]]
    SQLITE_FILE: str
    SYNCHRONOUS: Literal["FULL", "NORMAL"] = "FULL"

    def __init__(self, where: Path | str) -> None:
        self._db = connect(where, synchronous=self.SYNCHRONOUS)
        self.path = where if isinstance(where, Path) else None
        self.where = self._db.where  # the file, or host:port/database (no password)
        self._db.create(self.SCHEMA[self._db.dialect])

    @classmethod
    def from_settings(cls: type[S], settings: Settings) -> S:
        return cls(location(settings, cls.SQLITE_FILE))


S = TypeVar("S", bound=Store)
