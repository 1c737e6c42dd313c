"""Trainer callbacks: the JSONL training log, quiet progress bars, a training clock that survives resuming."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm
from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

from lorascope.errors import LorascopeError
from lorascope.io import write_atomically


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
    """Keep the entries logged before the checkpoint at ``last_step`` was saved: drop later ones (work
    redone after resuming), the end-of-training summary (logged again when the resumed run ends) and
    a line a kill cut short."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # torn by a kill mid-write
        if (
            isinstance(record, dict)
            and record.get("step", last_step + 1) <= last_step
            and "train_runtime" not in record
        ):
            kept.append(line)
    write_atomically(path, "".join(line + "\n" for line in kept))


class FiniteLoss(TrainerCallback):
    """Fails the run when the training loss becomes NaN or infinite (a learning rate far too high,
    or bad inputs): its weights are garbage, and it must not count as a finished run."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        for key in ("loss", "train_loss"):
            value = (logs or {}).get(key)
            if isinstance(value, int | float) and not math.isfinite(value):
                raise LorascopeError(
                    f"the training loss is {value} at step {state.global_step}: the run diverged "
                    "(lower train.learning_rate, or check the data); nothing was saved as a result"
                )
        return control


class RunProgress(TrainerCallback):
    """One line of progress per run, in place of the Trainer's bars: on a terminal a live bar of the
    training steps; elsewhere (a log file, a pipe) a plain line every ``every`` seconds and one at
    the end. Evaluation gets no bar of its own, so nothing nests or leaves escape codes in a log."""

    def __init__(self, every: float = 30.0):
        self.every, self.bar, self.loss = every, None, None

    def on_train_begin(self, args, state, control, **kwargs):
        self.stream = sys.stderr
        self.started, self.first, self.shown = time.perf_counter(), state.global_step, time.perf_counter()
        if self.stream.isatty():
            self.bar = tqdm(
                total=state.max_steps, initial=state.global_step, unit="step", file=self.stream, leave=False
            )
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss", (logs or {}).get("train_loss"))  # the last logged, or the run's mean
        if isinstance(loss, int | float):
            self.loss = loss
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)
            if self.loss is not None:
                self.bar.set_postfix(loss=f"{self.loss:.4f}", refresh=False)
        elif time.perf_counter() - self.shown >= self.every:
            self._line(state)
        return control

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
        else:
            self._line(state)
        return control

    def _line(self, state) -> None:
        self.shown = time.perf_counter()
        done, total = state.global_step, max(state.max_steps, 1)
        rate = (done - self.first) / max(self.shown - self.started, 1e-9)
        eta = f" · ETA {(total - done) / rate:.0f}s" if rate > 0 and done < total else ""
        loss = f" · loss {self.loss:.4f}" if self.loss is not None else ""
        print(
            f"  step {done}/{total} ({done / total:.0%}){loss} · {rate:.2f} steps/s{eta}", file=self.stream, flush=True
        )


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
