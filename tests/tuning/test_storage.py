"""Trial storages opened by several workers at once."""

import subprocess
import sys
import time

import pytest

from lorascope.errors import LorascopeError
from lorascope.tuning.storage import open_store

OPEN_AT = """
import sys, time
from pathlib import Path
from lorascope.tuning.storage import open_store
start = float(sys.argv[2])
while time.time() < start:  # every worker has imported optuna: they open the storage together
    time.sleep(0.001)
open_store(sys.argv[1], Path(sys.argv[3]))
"""


@pytest.mark.slow  # three fresh interpreters that wait for one moment (about 20 s)
def test_workers_started_together_on_a_fresh_sqlite_file_all_open_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    start = time.time() + 15
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT, url, str(start), str(tmp_path / f"journal-{i}.log")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(3)
    ]
    logs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], logs
    assert open_store(url, tmp_path / "journal.log").storage.get_all_studies() == []  # one valid, empty database


def test_a_sqlite_file_in_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(LorascopeError, match=r"tune.storage: cannot open sqlite:///.*missing/tune.db: "):
        open_store(f"sqlite:///{tmp_path / 'missing' / 'tune.db'}", tmp_path / "journal.log")
