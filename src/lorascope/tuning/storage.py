"""Where trials live (an Optuna journal file, or a database by SQLAlchemy URL) and the lock that keeps the
trial budget exact when several workers share them.

Optuna counts trials, but starting one is not atomic across processes: two workers that both see one
slot left would both take it. Every change to the number of open trials (starting one, failing and
retrying one) is therefore done under a lock shared by all workers: a file lock beside a journal or
SQLite file, a PostgreSQL advisory lock, or a MySQL named lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from sqlalchemy import text
from sqlalchemy.engine import make_url

from lorascope.errors import LorascopeError

LOCK_NAME = "lorascope-tune"
LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)
LOCK_SUFFIX = ".budget-lock"  # not ".lock": Optuna's journal lock uses that name


@dataclass
class TrialStore:
    """An Optuna storage and the lock for changes to how many trials are open."""

    storage: optuna.storages.BaseStorage
    where: str  # for messages and the summary: the journal path, or the URL without its password
    _lock: Any

    @contextmanager
    def lock(self) -> Iterator[None]:
        with self._lock():
            yield


def _file_lock(path: Path):
    @contextmanager
    def held() -> Iterator[None]:
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    return held


def _database_lock(storage: optuna.storages.RDBStorage, backend: str):
    acquire, release = {
        "postgresql": ("SELECT pg_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)"),
        "mysql": ("SELECT GET_LOCK(:name, -1)", "SELECT RELEASE_LOCK(:name)"),
    }[backend]

    @contextmanager
    def held() -> Iterator[None]:
        with storage.engine.connect() as connection:
            connection.execute(text(acquire), {"key": LOCK_KEY, "name": LOCK_NAME})
            try:
                yield
            finally:
                connection.execute(text(release), {"key": LOCK_KEY, "name": LOCK_NAME})
                connection.commit()

    return held


def open_store(url: str | None, journal: Path) -> TrialStore:
    """The journal file ``journal`` when ``url`` is None, else the database at ``url``."""
    journal.parent.mkdir(parents=True, exist_ok=True)
    if url is None:
        path = journal
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        storage = optuna.storages.JournalStorage(backend)
        return TrialStore(storage, str(path), _file_lock(path.with_name(path.name + LOCK_SUFFIX)))
    try:
        parsed = make_url(url)
    except Exception as exc:  # noqa: BLE001 — SQLAlchemy raises several kinds for a bad URL
        raise LorascopeError(f"tune.storage: not a SQLAlchemy URL: {url!r} ({exc})") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "mysql"):
        raise LorascopeError(
            f"tune.storage: {backend} databases are not supported; use postgresql, mysql or sqlite "
            "(or leave it null for a journal file)"
        )
    shown = parsed.render_as_string(hide_password=True)
    file_lock = None
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        database = Path(parsed.database)
        file_lock = _file_lock(database.with_name(database.name + LOCK_SUFFIX))
    try:
        # workers started together on a fresh SQLite file would each create its tables: one at a time
        with file_lock() if file_lock else nullcontext():
            storage = optuna.storages.RDBStorage(url)
    except Exception as exc:  # noqa: BLE001 — driver and connection errors
        raise LorascopeError(f"tune.storage: cannot open {shown}: {type(exc).__name__}: {exc}") from None
    if file_lock is None:  # in-memory SQLite is this process's alone
        file_lock = nullcontext if backend == "sqlite" else _database_lock(storage, backend)
    return TrialStore(storage, shown, file_lock)


class Heartbeat:
    """Marks a running trial alive every ``seconds`` (user attr ``heartbeat``) from a background thread.

    Optuna's own heartbeat covers database storages only; this one works with the journal file too.
    """

    def __init__(self, trial: optuna.Trial, seconds: float):
        self.trial, self.seconds = trial, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.seconds):
            self.trial.set_user_attr("heartbeat", time.time())

    def __enter__(self) -> Heartbeat:
        self.trial.set_user_attr("heartbeat", time.time())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def is_stale(trial: optuna.trial.FrozenTrial, stale_after: float, now: float) -> bool:
    """A running trial whose worker has not marked it alive for ``stale_after`` seconds."""
    beat = trial.user_attrs.get("heartbeat")
    if beat is None:
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        return now - started > stale_after
    return now - beat > stale_after
