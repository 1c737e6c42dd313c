"""Trainer callbacks: the JSONL training log, quiet progress bars, a training clock that survives resuming."""

from __future__ import annotations

import json
import time
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState, ProgressCallback


class JsonlLog(TrainerCallback):
    """Appends every Trainer log (loss, learning rate, eval metrics) as one JSON line."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and state.is_world_process_zero:
            record = {"step": state.global_step, "epoch": state.epoch, **logs}
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        return control


def truncate_log(path: Path, last_step: int) -> None:
    """Drop entries past ``last_step`` (work redone after resuming from that checkpoint)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if json.loads(line)["step"] <= last_step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


class QuietProgress(ProgressCallback):
    """Progress bars without echoing every log dict (those go to train_log.jsonl)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        return control


class TrainClock(TrainerCallback, ExportableState):
    """Wall time of training. The seconds spent before a checkpoint are saved in it, so a resumed
    run reports its whole training time, not only the part after resuming."""

    def __init__(self, seconds_before: float = 0.0):
        self.seconds_before = seconds_before
        self._started = time.perf_counter()

    def on_train_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()
        return control

    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self._started

    def state(self) -> dict:
        return {"args": {"seconds_before": self.seconds()}, "attributes": {}}


class TimeLimit(TrainerCallback):
    """Stops training once ``seconds`` of training time have passed (checked after every step)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._started = time.perf_counter()

    def on_train_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() - self._started >= self.seconds:
            control.should_training_stop = True
        return control
