"""A search stored in PostgreSQL (Debian's server, started here on 127.0.0.1) works as the journal file does."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from optuna.trial import TrialState
from sqlalchemy import text

from lorascope.studies.spec import study_from_mapping
from lorascope.tuning.search import run_tuning
from lorascope.tuning.storage import LOCK_KEY, open_store
from tests.tuning.conftest import tune_raw


def _server_binaries() -> Path | None:
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL cluster on 127.0.0.1; the URL of its ``postgres`` database."""
    binaries = _server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server not installed (apt install postgresql)")
    pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]' (a dev extra)")
    folder = Path(tempfile.mkdtemp(prefix="lorascope-pg-"))  # not under pytest's tmp: that is private to root
    data, port = folder / "data", _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as Debian's postgres user
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    run = lambda *args: subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)  # noqa: E731
    run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync")
    options = f"-h 127.0.0.1 -p {port} -k {folder} -F"
    run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
    shutil.rmtree(folder, ignore_errors=True)


def trials_of(raw: dict, out: Path):
    study = study_from_mapping(raw, raw["name"])
    outcome = run_tuning(study, out, echo=lambda line: None)
    return outcome, outcome.searches[0].study.get_trials(deepcopy=False)


@pytest.mark.slow  # trains a study several times (15-30 s)
def test_a_postgresql_study_gives_the_same_trials_as_the_journal_file(postgres_url, tmp_path):
    changes = {"tune__trials": 4, "base__train__epochs": 2}
    outcome, in_database = trials_of(tune_raw(tune__storage=postgres_url, **changes), tmp_path / "db")
    _, in_journal = trials_of(tune_raw(**changes), tmp_path / "journal")
    assert outcome.searches[0].store.where.startswith("postgresql+psycopg://postgres@127.0.0.1")
    assert not (tmp_path / "db" / "tune" / "journal.log").exists()
    assert len(in_database) == 4 and all(t.state != TrialState.FAIL for t in in_database)
    as_rows = lambda trials: [(t.state, t.params, t.value) for t in trials]  # noqa: E731
    assert as_rows(in_database) == as_rows(in_journal)


def test_the_postgresql_lock_excludes_a_second_holder(postgres_url, tmp_path):
    first, second = (
        open_store(postgres_url, tmp_path / "a" / "journal.log"),
        open_store(postgres_url, tmp_path / "b" / "journal.log"),
    )
    with first.lock(), second.storage.engine.connect() as connection:
        assert connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar() is False
    with second.storage.engine.connect() as connection:
        assert connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar() is True
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
