"""Progress: one clean line per run on a terminal and in a log, library bars off unless --verbose."""

import io
import subprocess
import sys

import pytest

from lorascope.config import parse_config
from lorascope.training import run_training
from tests.conftest import tiny_run_config

RUN = "model: tiny-bert\ntask: synthetic\nmethod: full\ndata:\n  synthetic_size: 64\ntrain:\n  max_steps: 8\n"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_one_live_bar_of_the_training_steps(tmp_path, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    run_training(parse_config(tiny_run_config(train__max_steps=6)).resolved(), tmp_path)
    shown = terminal.getvalue()
    assert "\r" in shown and "/6 [" in shown  # redrawn in place, counting the 6 steps
    assert "\x1b[A" not in shown and "Evaluation" not in shown  # no nested bars
    assert "step 6/6" not in shown  # the plain lines are for logs


@pytest.mark.slow  # two runs of the command in a fresh interpreter (about 30 s)
def test_in_a_log_plain_lines_and_no_library_noise_unless_verbose(tmp_path):
    (tmp_path / "run.yaml").write_text(RUN)
    command = [sys.executable, "-m", "lorascope", "train", str(tmp_path / "run.yaml"), "--out"]
    quiet = subprocess.run([*command, str(tmp_path / "a")], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    lines = quiet.stderr.splitlines()
    assert lines and lines[-1].startswith("  step 8/8 (100%) · loss ")
    assert all(line.startswith(("  step ", "note: ")) for line in lines), lines  # nothing but ours
    assert "\r" not in quiet.stderr and "\x1b[" not in quiet.stderr
    verbose = subprocess.run(
        [sys.executable, "-m", "lorascope", "--verbose", *command[3:], str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert verbose.returncode == 0 and "Writing model shards" in verbose.stderr  # asked for, shown
