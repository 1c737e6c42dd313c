"""Tasks: where examples come from, how they are encoded, and how predictions are scored.

A task turns a run config into train/eval records with canonical keys (``id``, ``label`` and
task fields), encodes them for a model head, decodes model outputs into predictions and scores
them. Sentence classification and regression (GLUE, CSV/JSONL, the synthetic demo task) share
``SentenceTask``; extractive QA, instruction tuning and next-item recommendation implement the
same interface with their own heads.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal

import numpy as np
from transformers import DataCollatorWithPadding

from lorascope.config import DataConfig, RunConfig
from lorascope.data import files, glue, metrics, synthetic
from lorascope.data.encoding import EncodedDataset, encode_pairs
from lorascope.data.evaluation import Evaluation, Predictor
from lorascope.data.instruction import InstructionTask
from lorascope.data.qa import QuestionAnsweringTask
from lorascope.data.sampling import score_bin, stratified_indices
from lorascope.errors import LorascopeError
from lorascope.registry import TASKS, register_task

Record = dict[str, object]


@dataclass(frozen=True)
class SentenceTask:
    """Classification or regression over one sentence or a sentence pair."""

    name: str
    regression: bool
    pair: bool
    metric_names: tuple[str, ...]
    main_metric: str
    label_names: tuple[str, ...] | None = None
    source: Literal["glue", "synthetic", "files"] = "glue"  # where examples come from without data files
    head: str = field(default="sequence-classification", init=False)
    hub_dataset: ClassVar[str] = "nyu-mll/glue"
    label_keys: ClassVar[tuple[str, ...]] = ("labels",)  # the features the loss reads
    calibration: ClassVar[float | None] = None  # training examples held out for a decision threshold: none
    lower_is_better: ClassVar[tuple[str, ...]] = ()  # metrics where lower is better
    baselines: ClassVar[bool] = True  # majority and random apply
    padding_free: ClassVar[bool] = False  # batches are padded (speed.group_by_length keeps that little)
    reduce_logits: ClassVar[None] = None  # the Trainer keeps the logits of evaluations as they are

    def for_run(self, cfg: RunConfig) -> SentenceTask:
        """The task with the run's own settings (sentence tasks have none)."""
        return self

    @property
    def sanity_metric(self) -> str:
        return self.main_metric

    def configure_model(self, config) -> None:
        """Set what the model head needs on its config (the labels are set when it is loaded)."""

    def for_training(self, dataset: EncodedDataset, max_length: int) -> EncodedDataset:
        return dataset

    def collator(self, tokenizer) -> DataCollatorWithPadding:
        return DataCollatorWithPadding(tokenizer)

    @property
    def needs_files(self) -> bool:
        """Whether runs must give ``data.train_file`` and ``data.eval_file``."""
        return self.source == "files"

    def load_examples(self, cfg: RunConfig, seed: int) -> tuple[list[Record], list[Record]]:
        """(train, eval) records from the task's own source: the generator, ``data_dir`` or the hub."""
        data = cfg.data
        if self.source == "synthetic":
            train = synthetic.make_examples(data.synthetic_size, seed, "train-")
            return train, synthetic.make_examples(max(200, data.synthetic_size // 4), seed + 1, "eval-")
        if self.source == "files":
            raise LorascopeError(f"task {self.name}: give data.train_file and data.eval_file")
        if cfg.data_dir is not None:
            return glue.load_local(self.name, cfg.data_dir, self.regression)
        return glue.load_hub(self.name, data.hub_dataset or self.hub_dataset)

    def read_files(self, data: DataConfig) -> tuple[list[Record], list[Record], dict[str, list[str]]]:
        """Records of ``data.train_file`` and ``data.eval_file`` (CSV, TSV or JSONL) and where each stands."""
        columns = self.default_columns() | data.columns
        required = ("text", "label") + (("text_pair",) if self.pair else ())
        fields = {k: v for k, v in columns.items() if k in required + ("id",)}
        train, train_places = files.read_records(data.train_file, fields, required)  # type: ignore[arg-type]
        evaluation, eval_places = files.read_records(data.eval_file, fields, required)  # type: ignore[arg-type]
        return train, evaluation, {"train": train_places, "eval": eval_places}

    def normalise(self, train: list[Record], evaluation: list[Record], places: dict[str, list[str]]) -> SentenceTask:
        """Labels as class indices (or floats), in place; generic tasks learn their label set from train."""
        return _normalise_labels(self, train, evaluation, places)

    def warnings(self, train: list[Record], evaluation: list[Record]) -> list[str]:
        return []

    @property
    def num_labels(self) -> int:
        return 1 if self.regression else len(self.label_names or ())

    def default_columns(self) -> dict[str, str]:
        if self.name in glue.LAYOUTS:
            names = {"text": "sentence1", "text_pair": "sentence2"} if self.pair else {"text": "sentence"}
            return names | {"label": "label", "id": "idx"}
        return {"text": "text", "text_pair": "text_pair", "label": "label", "id": "id"}

    def strata(self, records: list[Record]) -> list[object]:
        """Labels, or for regression five equal-width bins over the observed score range."""
        if not self.regression:
            return [r["label"] for r in records]
        scores = [float(r["label"]) for r in records]
        low, high = min(scores), max(scores)
        return [score_bin(s, low, high) if high > low else 0 for s in scores]

    def encode(self, records: list[Record], tokenizer, max_length: int) -> EncodedDataset:
        texts = [str(r["text"]) for r in records]
        pairs = [str(r.get("text_pair", "")) for r in records] if self.pair else None
        labels = [float(r["label"]) if self.regression else int(r["label"]) for r in records]
        return encode_pairs(tokenizer, texts, pairs, labels, max_length)

    def decode(self, outputs: np.ndarray | tuple) -> np.ndarray:
        """Predictions from the model's eval outputs (the logits, or a tuple led by them)."""
        logits = np.asarray(outputs[0] if isinstance(outputs, tuple) else outputs)
        return logits.reshape(-1).astype(np.float64) if self.regression else logits.argmax(axis=-1)

    def score(self, predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        return metrics.compute(self.metric_names, predictions, labels)

    def selection_scores(self, outputs: np.ndarray | tuple, labels: np.ndarray, dataset) -> dict[str, float]:
        """The metrics of an evaluation during training, which choose the best checkpoint."""
        return self.score(self.decode(outputs), labels)

    def evaluate(
        self, predictor: Predictor, data: TaskData, eval_set: EncodedDataset, tokenizer, max_length: int
    ) -> Evaluation:
        """The final evaluation: ``predictor.outputs(dataset)`` gives the model's outputs on an encoded dataset."""
        return self.evaluate_baseline(self.decode(predictor.outputs(eval_set)), data)

    def evaluate_baseline(self, predictions: np.ndarray, data: TaskData) -> Evaluation:
        """Predictions for ``data.eval`` (a baseline's, from the training labels alone), scored."""
        return Evaluation(predictions.tolist(), self.score(predictions, np.array([r["label"] for r in data.eval])))


def _glue_task(name: str, regression: bool, pair: bool, metric_names: tuple[str, ...], main: str) -> SentenceTask:
    names = None if regression else (glue.LAYOUTS[name].label_names or ("0", "1"))
    return SentenceTask(name, regression, pair, metric_names, main, names)


for _task in (
    _glue_task("sst2", False, False, ("accuracy",), "accuracy"),
    _glue_task("mrpc", False, True, ("accuracy", "f1"), "f1"),
    _glue_task("rte", False, True, ("accuracy",), "accuracy"),
    _glue_task("stsb", True, True, ("pearson", "spearmanr"), "pearson"),
    SentenceTask("synthetic", False, False, ("accuracy",), "accuracy", ("negative", "positive"), source="synthetic"),
    SentenceTask("text-classification", False, False, ("accuracy", "f1"), "accuracy", source="files"),
    SentenceTask("text-regression", True, False, ("pearson", "spearmanr"), "pearson", source="files"),
):
    register_task(_task)
register_task(QuestionAnsweringTask("squad_v2"))
register_task(QuestionAnsweringTask("synthetic_qa", source="synthetic"))
register_task(InstructionTask("instruction"))
register_task(InstructionTask("synthetic_instruction", source="synthetic"))


@dataclass
class TaskData:
    task: SentenceTask
    train: list[Record]
    eval: list[Record]
    calibration: list[Record] = field(default_factory=list)  # held out of train to choose a threshold


def _normalise_labels(
    task: SentenceTask, train: list[Record], evaluation: list[Record], places: dict[str, list[str]]
) -> SentenceTask:
    """Map file labels to class indices (or floats); generic tasks learn their label set from train.
    ``places`` says where each record stands (file and line), for the messages."""
    if task.regression:
        for split, records in (("train", train), ("eval", evaluation)):
            for r, where in zip(records, places[split], strict=True):
                try:
                    r["label"] = float(r["label"])
                except (TypeError, ValueError):
                    raise LorascopeError(f"{where}: label {r['label']!r} is not a number") from None
                if not math.isfinite(r["label"]):
                    raise LorascopeError(f"{where}: label {r['label']!r} is not a finite number")
        return task
    names = task.label_names
    if names is None:
        numeric = lambda s: s.lstrip("-").isdigit()  # noqa: E731
        names = tuple(
            sorted({str(r["label"]) for r in train}, key=lambda s: (0, int(s), "") if numeric(s) else (1, 0, s))
        )
        if len(names) < 2:
            raise LorascopeError(f"task {task.name}: train file has {len(names)} distinct label(s); need 2+")
        if len(names) > 2 and "f1" in task.metric_names:
            task = replace(task, metric_names=("accuracy",))
        task = replace(task, label_names=names)
    for split, records in (("train", train), ("eval", evaluation)):
        for r, where in zip(records, places[split], strict=True):
            value = str(r["label"])
            if value in names:
                r["label"] = names.index(value)
            elif value.isdigit() and int(value) < len(names):
                r["label"] = int(value)
            else:
                raise LorascopeError(f"{where}: label {value!r} is not one of {list(names)}")
    return task


def _subset(task: SentenceTask, records: list[Record], limit: int | None, seed: int) -> list[Record]:
    if limit is None:
        return records
    keep = stratified_indices(task.strata(records), limit, seed)
    return [records[i] for i in keep]


def _hold_out(
    task: SentenceTask, records: list[Record], holdout: float, seed: int, key: str = "data.holdout"
) -> tuple[list, list]:
    """(rest, held out): a stratified share (below 1) or number of ``records`` held out."""
    n = round(holdout * len(records)) if holdout < 1 else int(holdout)
    if not 1 <= n < len(records):
        raise LorascopeError(
            f"{key} {holdout:g}: holds out {n} of {len(records)} training examples; leave at least one on each side"
        )
    held = set(stratified_indices(task.strata(records), n, seed))
    rest = [r for i, r in enumerate(records) if i not in held]
    return rest, [r for i, r in enumerate(records) if i in held]


_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """A warning on stderr, once per process (a study loads the same data for every run)."""
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"warning: {message}", file=sys.stderr)


def load_task_data(cfg: RunConfig) -> TaskData:
    """Records for ``cfg.task`` from files, ``data_dir``, the generator or the hub, subset as asked."""
    task = TASKS[cfg.task].for_run(cfg)
    data = cfg.data
    seed = cfg.seed if data.sample_seed is None else data.sample_seed
    if data.train_file is not None or data.eval_file is not None:
        if data.train_file is None or (data.eval_file is None and data.eval_split == "eval"):
            raise LorascopeError(
                "data: give both data.train_file and data.eval_file (or data.eval_split: holdout with a train file)"
            )
        train, evaluation, places = task.read_files(data)
    else:
        train, evaluation = task.load_examples(cfg, seed)
        places = {
            split: [f"{split} example {r['id']}" for r in records]
            for split, records in (("train", train), ("eval", evaluation))
        }
    task = task.normalise(train, evaluation, places)
    train = _subset(task, train, cfg.max_train_samples, seed)
    if data.eval_split == "train":  # sanity checks: score on the very examples trained on
        calibration = [dict(r) for r in train] if task.calibration else []
        return TaskData(task, train, [dict(r) for r in train], calibration)
    if data.eval_split == "holdout":
        train, evaluation = _hold_out(task, train, data.holdout, seed)
    elif not evaluation:
        raise LorascopeError(f"task {task.name}: the data has no evaluation split; set data.eval_split: holdout")
    else:
        evaluation = _subset(task, evaluation, cfg.max_eval_samples, seed)
    calibration: list[Record] = []
    if task.calibration:
        train, calibration = _hold_out(task, train, task.calibration, seed, "qa.threshold_holdout")
    for message in task.warnings(train, evaluation):
        warn_once(message)
    return TaskData(task, train, evaluation, calibration)
