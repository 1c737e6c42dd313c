"""Instruction tuning of causal LMs (Alpaca): the ``instruction`` and ``synthetic_instruction`` tasks.

Encoding is ``data.instruction_encoding``'s. Here: reading Alpaca JSON, JSONL or CSV with a column
mapping; the exact evaluation, computed by lorascope over the whole eval set rather than read
from the Trainer's ``eval_loss`` (a mean of batch means that moves with the eval batch size):

- ``response_perplexity`` = exp(Σ NLL / Σ tokens) over every response token and EOS of the eval
  set, token-weighted, with a bootstrap interval over examples (BCa, scipy) — the main metric,
  lower is better;
- ``example_perplexity``, the mean over examples of each example's own perplexity, and
  ``sequence_perplexity``, over every token but the first (prompt and response);
- ``token_accuracy``, the share of response tokens the model ranks first;
- greedy generations for a fixed set of held-out prompts, their ``exact_match`` with the reference
  and ``stop_rate``, the share that emit EOS within ``instruction.max_new_tokens``.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch
from scipy import stats as scipy_stats

from lorascope.config import DataConfig, InstructionConfig, RunConfig
from lorascope.data import files, synthetic
from lorascope.data.evaluation import Evaluation
from lorascope.data.hub import load_dataset
from lorascope.data.instruction_encoding import (
    IGNORE,
    InstructionCollator,
    InstructionDataset,
    PackedDataset,
    PositionedDataset,
    encode_example,
    leading_specials,
    left_padded,
    prompt_text,
)
from lorascope.data.sampling import stratified_indices
from lorascope.errors import LorascopeError

Record = dict[str, object]
COLUMNS = {"instruction": "instruction", "input": "input", "output": "output", "id": "id", "category": "category"}


def read_instructions(path, columns: dict[str, str]) -> tuple[list[Record], list[str]]:
    """Records (``id``, ``instruction``, ``input``, ``output``, ``category``) of a JSON array (Alpaca's
    own files), JSONL, CSV or TSV file; ``columns`` maps those fields to the file's names."""
    fields = {k: v for k, v in (COLUMNS | columns).items() if k in COLUMNS}
    required = ("instruction", "output")
    text = files.read_text(path) if path.is_file() else ""
    if not text.lstrip().startswith("["):
        return files.read_records(path, fields, required)
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LorascopeError(f"{path} line {exc.lineno}: invalid JSON ({exc.msg})") from None
    records, places = [], []
    for number, row in enumerate(rows, start=1):
        where = f"{path} record {number}"
        if not isinstance(row, dict):
            raise LorascopeError(f"{where}: expected a JSON object")
        record: Record = {}
        for key, column in fields.items():
            value = row.get(column)
            if value not in (None, "") or (key == "output" and value == ""):
                if not isinstance(value, str | int | float):
                    raise LorascopeError(f"{where}: '{column}' (field '{key}') is not text")
                record[key] = str(value)
            elif key in required:
                raise LorascopeError(f"{where}: no '{column}' (field '{key}')")
        record.setdefault("id", str(number - 1))
        records.append(record)
        places.append(where)
    if not records:
        raise LorascopeError(f"{path}: no records")
    return records, places


@dataclass(frozen=True)
class Scored:
    """Per eval example: the NLL of each response token, and over the whole sequence (every token
    but the first) the NLL sum and token count; the response tokens ranked first."""

    response: list[np.ndarray]
    sequence_nll: np.ndarray
    sequence_tokens: np.ndarray
    correct: np.ndarray


def _autocast(model: torch.nn.Module, precision: str):
    device = next(model.parameters()).device
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(device.type, dtype=dtype)
    return contextlib.nullcontext()


@torch.no_grad()
def score_tokens(model: torch.nn.Module, dataset: InstructionDataset, pad_id: int, batch_size: int, precision: str):
    """Every eval example's token NLLs in float64 from float32 log-softmax, batch by batch."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    collate = InstructionCollator(pad_id)
    response, seq_nll, seq_tokens, correct = [], [], [], []
    for start in range(0, len(dataset), batch_size):
        batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        inputs = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "position_ids")}
        with _autocast(model, precision):
            logits = model(**inputs, use_cache=False).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        target = inputs["input_ids"][:, 1:]
        nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1).double().cpu().numpy()
        top = (logp.argmax(-1) == target).cpu().numpy()
        for row in range(nll.shape[0]):
            e = dataset.examples[start + row]
            n = len(e.input_ids)
            picked = np.arange(e.prompt_length - 1, n - 1)  # position t predicts token t + 1
            response.append(nll[row, picked])
            correct.append(int(top[row, picked].sum()))
            seq_nll.append(float(nll[row, : n - 1].sum()))
            seq_tokens.append(n - 1)
    model.train(was_training)
    return Scored(response, np.array(seq_nll), np.array(seq_tokens), np.array(correct))


def perplexity_interval(sums: np.ndarray, counts: np.ndarray, resamples: int, level: float = 0.95):
    """A BCa bootstrap interval over examples for exp(Σ NLL / Σ tokens) (scipy.stats.bootstrap,
    examples resampled with their token counts; seed 0)."""
    if len(sums) < 2:
        return math.nan, math.nan

    def statistic(s, c, axis=-1):
        return np.exp(s.sum(axis=axis) / c.sum(axis=axis))

    result = scipy_stats.bootstrap(
        (sums, counts),
        statistic,
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        confidence_level=level,
        method="BCa",
        rng=np.random.default_rng(0),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def perplexity_metrics(scored: Scored, resamples: int) -> dict[str, float]:
    """Token-weighted response perplexity with its interval, and the secondaries (module docstring)."""
    sums = np.array([r.sum() for r in scored.response])
    counts = np.array([r.size for r in scored.response], dtype=np.float64)
    low, high = perplexity_interval(sums, counts, resamples)
    nll = float(sums.sum() / counts.sum())
    return {
        "response_perplexity": math.exp(nll),
        "response_perplexity_low": low,
        "response_perplexity_high": high,
        "response_nll": nll,
        "example_perplexity": float(np.mean(np.exp(sums / counts))),
        "sequence_perplexity": math.exp(float(scored.sequence_nll.sum() / scored.sequence_tokens.sum())),
        "token_accuracy": float(scored.correct.sum() / counts.sum()),
        "response_tokens": float(counts.sum()),
    }


@torch.no_grad()
def greedy_generations(
    model: torch.nn.Module,
    prompts: list[list[int]],
    eos: int,
    pad_id: int,
    max_new_tokens: int,
    batch_size: int,
    precision: str = "fp32",
) -> list[tuple[list[int], bool]]:
    """(new ids without EOS, whether EOS was emitted) per prompt: greedy decoding, left-padded batches,
    under the run's autocast as every other pass of its model."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(prompts), batch_size):
        ids, mask = (t.to(device) for t in left_padded(prompts[start : start + batch_size], pad_id))
        width = ids.shape[1]
        with _autocast(model, precision):
            generated = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=pad_id,
            )
        for row in generated[:, width:].tolist():
            stop = eos in row
            out.append((row[: row.index(eos)] if stop else row, stop))
    model.train(was_training)
    return out


@dataclass(frozen=True)
class InstructionTask:
    """Instruction tuning: the loss on the response (or every token); the main metric is the
    token-weighted response perplexity, lower is better."""

    name: str
    source: Literal["files", "synthetic"] = "files"  # without files: the hub (files) or the generator
    hub_dataset: str = "tatsu-lab/alpaca"
    settings: InstructionConfig = field(default_factory=InstructionConfig)
    padding_free: bool = False  # training batches as one sequence of their examples (speed.padding_free)
    head: str = "causal-lm"
    num_labels: int = 0
    label_names: tuple[str, ...] | None = None
    regression: bool = False
    metric_names: tuple[str, ...] = (
        "response_perplexity",
        "example_perplexity",
        "sequence_perplexity",
        "token_accuracy",
        "exact_match",
        "stop_rate",
    )
    main_metric: str = "response_perplexity"
    lower_is_better: tuple[str, ...] = (
        "response_perplexity",
        "response_perplexity_low",
        "response_perplexity_high",
        "response_nll",
        "example_perplexity",
        "sequence_perplexity",
    )
    sanity_metric: str = "token_accuracy"  # sanity checks memorise the training responses
    label_keys: tuple[str, ...] = ("labels",)
    calibration: float | None = None
    needs_files: bool = False
    baselines: bool = False  # no labels for majority or random to predict

    def for_run(self, cfg: RunConfig) -> InstructionTask:
        return replace(self, settings=cfg.instruction, padding_free=cfg.speed.padding_free)

    def strata(self, records: list[Record]) -> list[object]:
        """The task-type column (``category``) when the data has one: subsets keep its shares."""
        return [r.get("category", "") for r in records]

    def read_files(self, data: DataConfig) -> tuple[list[Record], list[Record], dict[str, list[str]]]:
        train, train_places = read_instructions(data.train_file, data.columns)
        if data.eval_file is None:
            return train, [], {"train": train_places, "eval": []}
        evaluation, eval_places = read_instructions(data.eval_file, data.columns)
        return train, evaluation, {"train": train_places, "eval": eval_places}

    def load_examples(self, cfg: RunConfig, seed: int) -> tuple[list[Record], list[Record]]:
        """Generated instructions with a known answer, or the hub dataset (train split only: hold out eval)."""
        if self.source == "synthetic":
            size = cfg.data.synthetic_size
            train = synthetic.make_instruction_examples(size, seed, "train-")
            return train, synthetic.make_instruction_examples(max(200, size // 4), seed + 1, "eval-")
        name = cfg.data.hub_dataset or self.hub_dataset
        hint = "give data.train_file (Alpaca JSON or JSONL) with data.eval_split: holdout"
        rows = load_dataset(self.name, name, None, hint)["train"]
        return [
            {"id": str(i)} | {k: str(row.get(k) or "") for k in ("instruction", "input", "output")}
            for i, row in enumerate(rows)
        ], []

    def normalise(self, train: list[Record], evaluation: list[Record], places: dict[str, list[str]]):
        for split, records in (("train", train), ("eval", evaluation)):
            for r, where in zip(records, places[split], strict=True):
                r["where"] = where  # kept for messages about this record's tokens
        return self

    def warnings(self, train: list[Record], evaluation: list[Record]) -> list[str]:
        return []

    def configure_model(self, config) -> None:
        """Nothing to set: packed batches and scoring ask for no cache themselves, so the saved config
        keeps the model's own ``use_cache``."""

    def encode(self, records: list[Record], tokenizer, max_length: int) -> InstructionDataset:
        s = self.settings
        prefix = [] if s.template == "chat" else leading_specials(tokenizer)  # chat templates write their BOS
        examples = []
        for r in records:
            where = str(r.get("where", f"record {r['id']}"))
            text = prompt_text(r, s.template, tokenizer, where)
            prompt = prefix + tokenizer(text, add_special_tokens=False)["input_ids"]
            response = tokenizer(str(r["output"]), add_special_tokens=False)["input_ids"]
            examples.append(encode_example(prompt, response, tokenizer.eos_token_id, max_length, s.loss_on, where))
        return InstructionDataset(records, examples)

    def for_training(self, dataset: InstructionDataset, max_length: int):
        """The training set as batches see it: packed into ``max_length`` sequences with ``instruction.packing``;
        with ``padding_free``, items with their own positions, which the collator puts in one sequence."""
        if self.settings.packing:
            return PackedDataset(max_length, dataset)
        return PositionedDataset(dataset) if self.padding_free else dataset

    def collator(self, tokenizer) -> InstructionCollator:
        return InstructionCollator(tokenizer.pad_token_id, flatten=self.padding_free)

    @staticmethod
    def reduce_logits(logits, labels) -> torch.Tensor:
        """Each target token's NLL at its own position (0 elsewhere), computed as the Trainer
        evaluates, so that it never holds a vocabulary-wide array for the whole eval set."""
        logits = logits[0] if isinstance(logits, tuple) else logits
        target = labels[:, 1:]
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().transpose(1, 2), target.clamp_min(0), reduction="none"
        )
        nll = torch.where(target == IGNORE, torch.zeros_like(nll), nll)
        return torch.cat([torch.zeros_like(nll[:, :1]), nll], dim=1)

    def selection_scores(self, outputs, labels, dataset: InstructionDataset) -> dict[str, float]:
        """Response perplexity of an evaluation during training (it chooses the best checkpoint)."""
        nll = np.asarray(outputs, dtype=np.float64)
        total = sum(float(nll[i, list(e.response_positions)].sum()) for i, e in enumerate(dataset.examples))
        count = sum(len(e.response_positions) for e in dataset.examples)
        return {"response_perplexity": math.exp(total / count)}

    def evaluate(self, predictor, data, eval_set: InstructionDataset, tokenizer, max_length: int) -> Evaluation:
        """Exact perplexities over the whole eval set, then greedy generations for the fixed prompts."""
        s = self.settings
        model, batch_size = predictor.model, predictor.batch_size
        scored = score_tokens(model, eval_set, tokenizer.pad_token_id, batch_size, predictor.precision)
        metrics = perplexity_metrics(scored, s.bootstrap)
        chosen = generation_indices(self, data.eval, s.generate)
        prompts = [eval_set.examples[i].input_ids[: eval_set.examples[i].prompt_length] for i in chosen]
        eos = tokenizer.eos_token_id
        generated = greedy_generations(
            model, prompts, eos, tokenizer.pad_token_id, s.max_new_tokens, batch_size, predictor.precision
        )
        texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids, _ in generated]
        if chosen:
            references = [str(data.eval[i]["output"]).strip() for i in chosen]
            metrics["exact_match"] = float(
                np.mean([t.strip() == ref for t, ref in zip(texts, references, strict=True)])
            )
            metrics["stop_rate"] = float(np.mean([stop for _, stop in generated]))
        by_example = dict(zip(chosen, zip(texts, generated, strict=True), strict=True))
        n = len(data.eval)
        nll = [float(r.sum()) for r in scored.response]
        return Evaluation(
            predictions=[by_example[i][0] if i in by_example else None for i in range(n)],
            metrics=metrics,
            columns={
                "response_nll": nll,
                "response_tokens": [int(r.size) for r in scored.response],
                "stopped": [by_example[i][1][1] if i in by_example else None for i in range(n)],
            },
            files={
                "generations.json": [
                    {
                        "id": data.eval[i]["id"],
                        "prompt": tokenizer.decode(
                            eval_set.examples[i].input_ids[: eval_set.examples[i].prompt_length]
                        ),
                        "generation": by_example[i][0],
                        "reference": data.eval[i]["output"],
                        "stopped": by_example[i][1][1],
                    }
                    for i in chosen
                ]
            },
            settings={"loss_on": s.loss_on, "template": s.template, "packing": s.packing},
        )

    def evaluate_baseline(self, predictions, data) -> Evaluation:
        raise LorascopeError(f"task {self.name}: baselines predict labels, and instruction data has none")


def generation_indices(task: InstructionTask, records: list[Record], n: int) -> list[int]:
    """The held-out prompts answered by greedy decoding: a stratified draw with seed 0, the same
    for every run and seed of a study."""
    if not n:
        return []
    return stratified_indices(task.strata(records), min(n, len(records)), 0)
