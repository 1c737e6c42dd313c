import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest
from transformers import TrainerCallback

from lorascope.errors import LorascopeError
from lorascope.records import RunFolder, StudyFolder
from lorascope.studies import load_study, run_study
from lorascope.studies.runner import run_status
from tests.studies.conftest import study_raw, write_study


class InterruptNthRun(TrainerCallback):
    """Raises KeyboardInterrupt (as Ctrl-C would) at ``step`` of the ``nth`` run trained."""

    def __init__(self, nth: int, step: int):
        self.nth, self.step, self.runs = nth, step, 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.runs += 1

    def on_step_end(self, args, state, control, **kwargs):
        if self.runs == self.nth and state.global_step == self.step:
            raise KeyboardInterrupt


def results_by_id(study, out):
    return {r.id: json.loads((out / r.folder / "results.json").read_text()) for r in study.runs}


def log_events(out):
    return [json.loads(line) for line in (out / "study_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, mini_glue):
    """The 2 tasks × 2 methods × 2 seeds study, run once without interruption."""
    folder = tmp_path_factory.mktemp("reference")
    study = load_study(write_study(folder / "study.yaml", study_raw(mini_glue)))
    lines = []
    outcome = run_study(study, folder / "out", echo=lines.append)
    return study, folder / "out", outcome, lines


def test_a_study_runs_everything_once_and_shows_progress(reference):
    study, out, outcome, lines = reference
    assert not outcome.failed and not outcome.skipped
    assert len(outcome.ran) == 8 + 8  # 8 grid runs, 8 distinct baselines (2 tasks × 2 seeds × 2 kinds)
    assert all(run_status(out / r.folder) == "done" for r in study.runs)
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(
        r.folder.split("/")[1] for r in study.of_kind("run")
    )
    assert lines[0] == "checked 16 unfinished run(s): data, model sources, module names"
    first = lines.index(
        f"[run 1/8 · 0 done, 0 failed · ETA —] sst2 · full · seed 0  ({study.of_kind('run')[0].folder})"
    )
    assert lines[first + 1].startswith("  done in ") and "accuracy=" in lines[first + 1]
    assert lines[first + 2].startswith("[run 2/8 · 1 done, 0 failed · ETA ") and "ETA —" not in lines[first + 2]
    assert json.loads((out / "plan.json").read_text())["runs"][0]["id"] == study.runs[0].id
    # every trained run is an ordinary run folder that lorascope train can reproduce
    folder = out / study.of_kind("run")[0].folder
    assert {"config.yaml", "environment.json", "results.json", "eval_predictions.jsonl", "model"} <= {
        p.name for p in folder.iterdir()
    }


def test_started_again_a_finished_study_does_nothing(reference, tmp_path):
    study, out, _, _ = reference
    before = {r.id: (out / r.folder / "results.json").stat().st_mtime_ns for r in study.runs}
    lines = []
    outcome = run_study(study, out, echo=lines.append)
    assert outcome.ran == [] and len(outcome.skipped) == 16
    assert "run: 8 of 8 already done, skipped" in lines
    assert {r.id: (out / r.folder / "results.json").stat().st_mtime_ns for r in study.runs} == before


@pytest.mark.slow  # trains a study several times (15-30 s)
def test_interrupted_and_started_again_it_resumes_and_matches_an_uninterrupted_study(reference, tmp_path, mini_glue):
    study_ref, out_ref, _, _ = reference
    study = load_study(write_study(tmp_path / "study.yaml", study_raw(mini_glue)))
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C in the 3rd run, after its first checkpoint (step 6)
        run_study(study, out, callbacks=[InterruptNthRun(3, 9)], echo=lambda line: None)
    statuses = Counter(run_status(out / r.folder) for r in study.of_kind("run"))
    assert statuses == {"done": 2, "partial": 1, "pending": 5}
    third = study.of_kind("run")[2]
    assert (out / third.folder / "checkpoints" / "checkpoint-6").is_dir()

    outcome = run_study(study, out, echo=lambda line: None)
    assert len(outcome.ran) == 6 and third.id in outcome.ran
    assert json.loads((out / third.folder / "results.json").read_text())["resumed_from"] == "checkpoint-6"
    events = log_events(out)
    assert Counter(e["id"] for e in events if e["event"] == "done") == Counter(
        r.id for r in study.unique("run") + study.unique("baseline")
    )
    restarts = [e for e in events if e["event"] == "start" and e["resume"]]
    assert [e["id"] for e in restarts] == [third.id]
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(p.name for p in (out_ref / "runs").iterdir())
    ours, theirs = results_by_id(study, out), results_by_id(study_ref, out_ref)
    assert ours.keys() == theirs.keys()
    for run_id in ours:
        assert ours[run_id]["metrics"] == theirs[run_id]["metrics"], run_id
        assert ours[run_id]["steps"] == theirs[run_id]["steps"]


@pytest.mark.slow  # trains a study several times (15-30 s)
def test_killed_at_any_moment_it_finishes_the_same(reference, tmp_path, mini_glue):
    """SIGKILL (no clean-up at all) while a run is training, then start the same command again."""
    study_ref, out_ref, _, _ = reference
    path = write_study(tmp_path / "study.yaml", study_raw(mini_glue))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "lorascope", "study", str(path), "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        partial = [
            p for p in out.glob("runs/*/checkpoints/checkpoint-*") if not (p.parents[1] / "results.json").exists()
        ]
        if len(list(out.glob("runs/*/results.json"))) >= 1 and partial:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    study = load_study(path)
    assert any(run_status(out / r.folder) != "done" for r in study.runs), "the study finished before it was killed"
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already done, skipped" in again.stdout
    ours, theirs = results_by_id(study, out), results_by_id(study_ref, out_ref)
    assert {k: v["metrics"] for k, v in ours.items()} == {k: v["metrics"] for k, v in theirs.items()}
    done = Counter(e["id"] for e in log_events(out) if e["event"] == "done")
    assert set(done.values()) == {1} and len(done) == 16


class FailNthRun(InterruptNthRun):
    """Fails the ``nth`` run trained at its first step, as running out of GPU memory would."""

    def on_step_end(self, args, state, control, **kwargs):
        if self.runs == self.nth:
            raise RuntimeError("CUDA out of memory (simulated)")


def test_a_failed_run_is_recorded_and_the_others_go_on(tmp_path, mini_glue):
    raw = study_raw(mini_glue, grid={"task": ["sst2"], "seed": [0]}, baselines=[])
    study = load_study(write_study(tmp_path / "study.yaml", raw))
    full, lora = study.of_kind("run")
    with pytest.raises(LorascopeError, match=r"sst2 · full · seed 0 failed \(--fail-fast\)"):
        run_study(study, tmp_path / "fast", fail_fast=True, callbacks=[FailNthRun(1, 0)], echo=lambda line: None)
    assert run_status(tmp_path / "fast" / lora.folder) == "pending"

    lines = []
    outcome = run_study(study, tmp_path / "out", callbacks=[FailNthRun(1, 0)], echo=lines.append)
    error = json.loads((tmp_path / "out" / full.folder / "error.json").read_text())
    assert error["error"] == "RuntimeError: CUDA out of memory (simulated)" and "on_step_end" in error["traceback"]
    assert error["label"] == full.label
    assert list(outcome.failed) == [full.label] and outcome.ran == [lora.id]
    assert run_status(tmp_path / "out" / full.folder) == "failed"
    assert "  FAILED sst2 · full · seed 0: RuntimeError: CUDA out of memory (simulated)  (details: " in "\n".join(lines)
    # started again, the failed run is retried (now it succeeds); the finished one is not redone
    outcome = run_study(study, tmp_path / "out", echo=lambda line: None)
    assert outcome.ran == [full.id] and outcome.skipped == [lora.id] and not outcome.failed
    assert not (tmp_path / "out" / full.folder / "error.json").exists()


def test_runs_that_cannot_start_stop_the_study_before_anything_runs(tmp_path, mini_glue):
    raw = study_raw(mini_glue, grid={"task": ["sst2", "stsb"], "seed": [0]})
    raw["methods"]["broken"] = {"method": "lora", "lora.target_modules": ["nonexistent"]}
    study = load_study(write_study(tmp_path / "study.yaml", raw))
    with pytest.raises(LorascopeError) as info:
        run_study(study, tmp_path / "out", echo=lambda line: None)
    message = str(info.value)
    assert message.startswith("the study cannot start; nothing was run:\n  lora.target_modules: 'nonexistent'")
    assert message.endswith("— sst2 · broken · seed 0 and 1 more")
    assert not (tmp_path / "out").exists()


def test_a_foreign_folder_is_refused(tmp_path, mini_glue):
    (tmp_path / "notes.txt").write_text("mine")
    study = load_study(write_study(tmp_path / "s.yaml", study_raw(mini_glue)))
    with pytest.raises(LorascopeError, match="not empty and not a study folder"):
        run_study(study, tmp_path)


@pytest.mark.slow  # the second study is a fresh interpreter (about 10 s)
def test_a_second_study_on_a_running_folder_is_refused_with_one_line(tmp_path, mini_glue):
    study_file = write_study(tmp_path / "study.yaml", study_raw(mini_glue))
    out = tmp_path / "out"
    with StudyFolder(out).lock("lorascope study"):  # what the first process holds while it runs
        second = subprocess.run(
            [sys.executable, "-m", "lorascope", "study", str(study_file), "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"error: {out}: lorascope study (pid {os.getpid()} on {socket.gethostname()}) is writing here; "
            "wait for it to finish, or choose another folder"
        ]
        assert [p.name for p in out.iterdir()] == [".lock"]  # the second wrote nothing
    assert not out.exists()  # nothing left behind once the first is done


class DiskFull(InterruptNthRun):
    """The disk fills up in the ``nth`` run, as a checkpoint is saved."""

    def on_step_end(self, args, state, control, **kwargs):
        if self.runs == self.nth:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args.output_dir))


def test_a_full_disk_fails_the_run_and_its_record_but_not_the_study(tmp_path, mini_glue, monkeypatch):
    raw = study_raw(mini_glue, grid={"task": ["sst2"], "seed": [0]}, baselines=[])
    study = load_study(write_study(tmp_path / "study.yaml", raw))
    full, lora = study.of_kind("run")

    def full_disk(self, error):  # the record of the failure cannot be written either
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.error_path))

    monkeypatch.setattr(RunFolder, "write_error", full_disk)
    lines = []
    outcome = run_study(study, tmp_path / "out", callbacks=[DiskFull(1, 0)], echo=lines.append)
    assert outcome.ran == [lora.id] and list(outcome.failed) == [full.label]
    message = outcome.failed[full.label]
    assert message.startswith("OSError: [Errno 28] No space left on device")
    assert "its error.json could not be written: " in message and "error.json: No space left on device" in message
    assert not list((tmp_path / "out").rglob("*.tmp"))  # no half-written file
