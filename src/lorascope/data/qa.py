"""Extractive question answering with unanswerable questions (SQuAD 2.0): the ``squad_v2`` task.

Windows and their labels are ``data.qa_windows``'s; the model head is ``models.qa``'s. Here:
reading the questions, turning a model's logits into one answer and one no-answer probability
per question, choosing the no-answer threshold on questions held out of training, and the
metrics — the official script's, the answerability classifier's AUROC, and the two degenerate
baselines (always abstain, never abstain) every result is shown next to.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from statistics import median
from typing import Literal

import numpy as np
from transformers import DataCollatorWithPadding

from lorascope.config import DataConfig, QaConfig, RunConfig
from lorascope.data import metrics, squad, synthetic
from lorascope.data.evaluation import Evaluation
from lorascope.data.qa_windows import WindowDataset, encode_windows, span_text
from lorascope.data.squad_metrics import prior_weighted_threshold, squad_v2_scores
from lorascope.errors import LorascopeError

Record = dict[str, object]
Outputs = tuple[np.ndarray, ...]  # start and end logits per window and token, and the answerable logit per window


@dataclass(frozen=True)
class Answers:
    """Per question: the best span's text (never empty) and the probability that it has no answer."""

    spans: dict[str, str]
    no_answer: dict[str, float]

    def decided(self, threshold: float) -> dict[str, str]:
        """The answers with "no answer" ("") where its probability is above ``threshold``."""
        return {q: "" if self.no_answer[q] > threshold else text for q, text in self.spans.items()}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def best_span(start: np.ndarray, end: np.ndarray, valid: np.ndarray, max_answer_length: int, n_best: int):
    """(score, start, end) of the best span over the ``n_best`` best starts and ends among ``valid``
    tokens, end not before start and at most ``max_answer_length`` tokens long; when no pair of those
    makes a span, the best over all valid tokens (so there is a span whenever a token is valid)."""
    tokens = np.flatnonzero(valid)
    if not tokens.size:
        return None
    for n in (n_best, tokens.size):
        starts = tokens[np.argsort(-start[tokens], kind="stable")[:n]]
        ends = tokens[np.argsort(-end[tokens], kind="stable")[:n]]
        scores = start[starts][:, None] + end[ends][None, :]
        length = ends[None, :] - starts[:, None]
        scores = np.where((length >= 0) & (length < max_answer_length), scores, -np.inf)
        i, j = np.unravel_index(np.argmax(scores), scores.shape)
        if np.isfinite(scores[i, j]):
            return float(scores[i, j]), int(starts[i]), int(ends[j])
    return None


def answers(outputs: Outputs, dataset: WindowDataset, settings: QaConfig) -> Answers:
    """Each question's best span over its windows, and its no-answer probability: 1 − the highest
    answerable probability of its windows (answerability head), or the sigmoid of the lowest null
    score (start + end logits at token 0) minus the best span's score (``null-token``)."""
    start, end = (np.asarray(a, dtype=np.float64) for a in outputs[:2])
    answerable = np.asarray(outputs[2], dtype=np.float64).reshape(-1) if settings.head == "answerability" else None
    best: dict[int, tuple[float, str]] = {}
    answerable_max: dict[int, float] = {}
    null_min: dict[int, float] = {}
    for w, window in enumerate(dataset.windows):
        length = min(len(window.offsets), start.shape[1])
        valid = np.array(window.boundaries[:length])  # a span of white space alone would score as "no answer"
        found = best_span(start[w, :length], end[w, :length], valid, settings.max_answer_length, settings.n_best)
        context = str(dataset.records[window.example]["context"])
        if found and (window.example not in best or found[0] > best[window.example][0]):
            best[window.example] = (found[0], span_text(context, window.offsets, found[1], found[2]))
        if answerable is not None:
            answerable_max[window.example] = max(answerable_max.get(window.example, -np.inf), answerable[w])
        null = start[w, 0] + end[w, 0]
        null_min[window.example] = min(null_min.get(window.example, np.inf), null)
    spans, no_answer = {}, {}
    for i, record in enumerate(dataset.records):
        qid = str(record["id"])
        score, spans[qid] = best.get(i, (-np.inf, ""))
        if answerable is not None:
            no_answer[qid] = float(_sigmoid(-np.array(answerable_max[i])))  # 1 − σ(x), exact for large x
        else:
            no_answer[qid] = float(_sigmoid(np.array(null_min[i] - score)))
    return Answers(spans, no_answer)


def gold(records: list[Record]) -> dict[str, list[str]]:
    return {str(r["id"]): [str(a["text"]) for a in r["answers"]] for r in records}  # type: ignore[union-attr]


def tuned_threshold(answers_: Answers, records: list[Record], prior: float | None = None) -> float:
    """The no-answer threshold that maximises F1 on ``records`` (the official script's sweep), or
    their F1 re-weighted to a no-answer share ``prior`` (``qa.no_answer_prior``)."""
    if prior is not None:
        return prior_weighted_threshold(gold(records), answers_.spans, answers_.no_answer, prior)
    return squad_v2_scores(gold(records), answers_.spans, answers_.no_answer)["best_f1_thresh"]


def qa_metrics(answers_: Answers, records: list[Record], threshold: float) -> dict[str, float]:
    """The official metrics at ``threshold``, F1 and EM at 0.5, the classifier's AUROC, the
    oracle best F1 (threshold chosen on these very questions) and the degenerate baselines."""
    truth = gold(records)
    out = squad_v2_scores(truth, answers_.decided(threshold))
    at_half = squad_v2_scores(truth, answers_.spans, answers_.no_answer, threshold=0.5)
    oracle = squad_v2_scores(truth, answers_.spans, answers_.no_answer)  # at threshold 1: every span kept
    ids = list(truth)
    has = np.array([1 if truth[q] else 0 for q in ids])
    out |= {
        "null_threshold": threshold,
        "f1_at_half": at_half["f1"],
        "exact_at_half": at_half["exact"],
        "answerable_auroc": metrics.auroc(has, np.array([1.0 - answers_.no_answer[q] for q in ids])),
        "best_f1_oracle": oracle["best_f1"],
        "best_exact_oracle": oracle["best_exact"],
        "best_f1_oracle_threshold": oracle["best_f1_thresh"],
        "always_empty_f1": squad_v2_scores(truth, dict.fromkeys(ids, ""))["f1"],
        "never_empty_f1": oracle["f1"],
    }
    return out


@dataclass(frozen=True)
class QuestionAnsweringTask:
    """SQuAD 2.0: span extraction plus the decision to abstain; the main metric is F1."""

    name: str
    source: Literal["squad", "synthetic"] = "squad"  # synthetic: make_qa_examples, a known answer
    hub_dataset: str = "rajpurkar/squad_v2"
    settings: QaConfig = field(default_factory=QaConfig)
    head: str = "question-answering"
    num_labels: int = 2
    label_names: tuple[str, ...] | None = None
    regression: bool = False
    metric_names: tuple[str, ...] = (
        "f1",
        "exact",
        "HasAns_f1",
        "NoAns_exact",
        "answerable_auroc",
        "f1_at_half",
        "best_f1_oracle",
        "always_empty_f1",
        "never_empty_f1",
    )
    main_metric: str = "f1"
    label_keys: tuple[str, ...] = ("start_positions", "end_positions", "answerable")
    needs_files: bool = False
    lower_is_better: tuple[str, ...] = ()
    baselines: bool = True
    padding_free: bool = False  # windows are padded per batch
    reduce_logits: None = None

    @property
    def calibration(self) -> float:
        """Share (or number) of training questions held out to choose the no-answer threshold."""
        return self.settings.threshold_holdout

    def for_run(self, cfg: RunConfig) -> QuestionAnsweringTask:
        return replace(self, settings=cfg.qa)

    @property
    def sanity_metric(self) -> str:
        return self.main_metric

    def for_training(self, dataset: WindowDataset, max_length: int) -> WindowDataset:
        return dataset

    def collator(self, tokenizer) -> DataCollatorWithPadding:
        return DataCollatorWithPadding(tokenizer)

    def strata(self, records: list[Record]) -> list[object]:
        """Answerable (1) or not (0): subsets and holdouts keep the share of unanswerable questions."""
        return [r["label"] for r in records]

    def read_files(self, data: DataConfig) -> tuple[list[Record], list[Record], dict[str, list[str]]]:
        train, evaluation = squad.read_squad(data.train_file), squad.read_squad(data.eval_file)  # type: ignore[arg-type]
        places = {
            "train": [f"{data.train_file}, question {r['id']}" for r in train],
            "eval": [f"{data.eval_file}, question {r['id']}" for r in evaluation],
        }
        return train, evaluation, places

    def load_examples(self, cfg: RunConfig, seed: int) -> tuple[list[Record], list[Record]]:
        """Generated questions, or SQuAD from ``data_dir`` (the official file names) or the hub."""
        if self.source == "synthetic":
            size = cfg.data.synthetic_size
            train = synthetic.make_qa_examples(size, seed, "train-")
            return train, synthetic.make_qa_examples(max(200, size // 4), seed + 1, "eval-")
        if cfg.data_dir is not None:
            return squad.load_local(cfg.data_dir)
        return squad.load_hub(cfg.data.hub_dataset or self.hub_dataset)

    def normalise(self, train: list[Record], evaluation: list[Record], places: dict[str, list[str]]):
        return self

    def warnings(self, train: list[Record], evaluation: list[Record]) -> list[str]:
        """A warning when the no-answer rates of train and eval differ by more than 10 points: the
        threshold chosen on held-out training questions then suits eval less."""
        rate = {k: sum(1 - int(r["label"]) for r in v) / len(v) for k, v in (("train", train), ("eval", evaluation))}
        if abs(rate["train"] - rate["eval"]) <= 0.10:
            return []
        return [
            f"task {self.name}: {rate['train']:.1%} of training questions have no answer but {rate['eval']:.1%} "
            "of evaluation questions do; the no-answer threshold, chosen on held-out training questions, "
            "carries the training rate (compare f1 with best_f1_oracle and the baselines)"
        ]

    def configure_model(self, config) -> None:
        """The head's settings, carried in the model config so a saved model reloads with them."""
        config.qa_head = self.settings.head
        config.qa_answerable_weight = self.settings.answerable_weight

    def encode(self, records: list[Record], tokenizer, max_length: int) -> WindowDataset:
        s = self.settings
        return encode_windows(tokenizer, records, max_length, s.stride(max_length), s.max_question_length)

    def selection_scores(self, outputs: Outputs, labels: object, dataset: WindowDataset) -> dict[str, float]:
        """F1 and EM at no-answer threshold 0.5, to choose checkpoints (the threshold is tuned only at the end)."""
        found = answers(outputs, dataset, self.settings)
        scores = squad_v2_scores(gold(dataset.records), found.spans, found.no_answer, threshold=0.5)
        return {"f1": scores["f1"], "exact": scores["exact"]}

    def evaluate(self, predictor, data, eval_set: WindowDataset, tokenizer, max_length: int) -> Evaluation:
        """Answers on the held-out training questions choose the threshold; then eval is scored."""
        if not data.calibration:
            raise LorascopeError(f"task {self.name}: no held-out training questions to choose the threshold")
        held_set = self.encode(data.calibration, tokenizer, max_length)
        calibration = answers(predictor.outputs(held_set), held_set, self.settings)
        threshold = tuned_threshold(calibration, data.calibration, self.settings.no_answer_prior)
        found = answers(predictor.outputs(eval_set), eval_set, self.settings)
        decided = found.decided(threshold)
        ids = [str(r["id"]) for r in data.eval]
        return Evaluation(
            predictions=[decided[q] for q in ids],
            metrics=qa_metrics(found, data.eval, threshold),
            columns={
                "best_span": [found.spans[q] for q in ids],
                "no_answer_probability": [found.no_answer[q] for q in ids],
            },
            files={
                "squad_predictions.json": decided,
                "squad_spans.json": found.spans,
                "squad_na_probs.json": found.no_answer,
            },
        )

    def evaluate_baseline(self, decisions: np.ndarray, data) -> Evaluation:
        """A baseline's answerable (1) or not (0) per question, from the training labels alone: an
        answer is the context's first n words, n the median answer length in training."""
        words = [len(str(a["text"]).split()) for r in data.train for a in r["answers"]]  # type: ignore[union-attr]
        n = max(1, round(median(words))) if words else 1
        texts = [
            " ".join(str(r["context"]).split()[:n]) if int(d) else "" for r, d in zip(data.eval, decisions, strict=True)
        ]
        ids = [str(r["id"]) for r in data.eval]
        predictions = dict(zip(ids, texts, strict=True))
        return Evaluation(
            texts, squad_v2_scores(gold(data.eval), predictions), files={"squad_predictions.json": predictions}
        )
