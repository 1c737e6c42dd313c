"""Typed run configuration: YAML in, validated models out, one clear line per problem.

Every field has a default chosen for research use; ``resolve`` fills the method-dependent
ones (learning rate, weight decay) so that the written ``config.yaml`` reproduces the run alone.
"""

from __future__ import annotations

import copy
import string
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from lorascope.errors import LorascopeError
from lorascope.registry import METHODS, STRATEGIES, TASKS, method_spec, one_of

FIELDS = ("text", "text_pair", "label", "id", "instruction", "input", "output", "category")


ModelT = TypeVar("ModelT", bound=BaseModel)


class _Strict(BaseModel):
    # inf and NaN pass float bounds (inf > 0) and would only fail later, after files are written
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class LoraConfig(_Strict):
    """LoRA adapter settings (passed to ``peft.LoraConfig``)."""

    r: int = Field(8, gt=0, description="Rank of the update BA.")
    alpha: float = Field(16.0, gt=0, description="Scaling numerator: ΔW = (alpha / r) · B A.")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] | None = Field(
        None, description="Module names to adapt; null uses PEFT's default for the model family."
    )
    use_rslora: bool = Field(False, description="Rank-stabilised scaling alpha / sqrt(r).")
    bias: Literal["none", "all", "lora_only"] = "none"
    penalty: float = Field(0.0, ge=0, description="λ in the added loss term λ·Σ‖B A‖²_F.")
    strategy: str = Field(
        "uniform",
        description="A registered rank strategy. uniform: rank r everywhere; svd-energy, fisher: per-layer ranks "
        "allocated at the start of the run (settings in ranks:), at the parameter budget of uniform rank r.",
    )
    rank_config: Path | None = Field(None, description="A lora_rank_config.json giving each layer's r and alpha.")

    @field_validator("strategy")
    @classmethod
    def _registered_strategy(cls, strategy: str) -> str:
        return one_of(strategy, STRATEGIES.names())


class FinetuneConfig(_Strict):
    """The brief full fine-tune whose ΔW the svd-energy strategy analyses (not meant to converge)."""

    max_steps: int = Field(200, gt=0, description="Optimizer steps at most.")
    max_seconds: float | None = Field(None, gt=0, description="Stop after this much training time.")
    train_samples: int | None = Field(2000, gt=0, description="Stratified subset of the training data.")
    learning_rate: float = Field(5e-5, gt=0)


class RanksConfig(_Strict):
    """How ``lora.strategy`` svd-energy and fisher allocate ranks (and ``lorascope ranks CONFIG.yaml``)."""

    energy: float = Field(0.90, description="Share of ΔW's spectral energy the ranks keep.")
    energy_scope: Literal["global", "layer"] = Field(
        "global", description="global: the share of all layers' ΔW energy together; layer: each layer's own."
    )
    min_r: int = Field(4, gt=0, description="Smallest rank.")
    max_r: int = Field(64, gt=0, description="Largest rank.")
    smooth: Literal["none", "median", "mean"] = Field("none", description="Over depth, per module type.")
    match_budget: bool = Field(True, description="Rescale to the LoRA parameter count of uniform rank lora.r.")
    alpha_ratio: float | None = Field(
        None, gt=0, description="alpha = ratio · r on every layer; null: lora.alpha / lora.r."
    )
    svd: Literal["randomized", "exact"] = Field("randomized", description="SVD: self-checking randomized, or exact.")
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    fisher_samples: int = Field(64, gt=0, description="Training examples whose gradients estimate the Fisher.")
    save_delta: list[str] = Field(
        default_factory=list, description="Layers whose ΔW is saved to svd/delta.safetensors."
    )

    @field_validator("energy")
    @classmethod
    def _share(cls, energy: float) -> float:
        if not 0 < energy <= 1:
            raise ValueError("must be in (0, 1]")
        return energy

    @model_validator(mode="after")
    def _rank_bounds(self) -> RanksConfig:
        if self.min_r > self.max_r:
            raise PydanticCustomError("cross_key", "ranks.min_r must not exceed ranks.max_r")
        return self


class QloraConfig(_Strict):
    """QLoRA (``method: qlora``): the frozen base stored in 4 bits by bitsandbytes, LoRA (``lora:``)
    on every linear layer but the head unless ``lora.target_modules`` names others (docs/qlora.md)."""

    quant_type: Literal["nf4", "fp4"] = Field("nf4", description="4-bit data type: NormalFloat4 (the paper's) or FP4.")
    double_quant: bool = Field(True, description="Quantize the per-block scales too (about 0.37 bits a weight saved).")
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto",
        description="Dtype the 4-bit weights are dequantized to for each product. auto: the run's precision — "
        "bf16 on GPUs that have it; on a CPU float32, or bf16 with train.precision: bf16 where it is native.",
    )
    gradient_checkpointing: bool = Field(True, description="Recompute activations in the backward pass (the recipe's).")
    optimizer: Literal["auto", "paged_adamw_32bit", "paged_adamw_8bit", "adamw_torch"] = Field(
        "auto",
        description="auto: paged AdamW (32-bit states) on CUDA; elsewhere PyTorch's AdamW (speed.fused_optimizer).",
    )


class AdaLoraConfig(_Strict):
    """AdaLoRA (``method: adalora``): PEFT's, ranks pruned during training to an average of ``lora.r``."""

    init_r: int | None = Field(None, gt=0, description="Starting rank per layer; null: ⌈1.5 · lora.r⌉.")
    tinit: float = Field(0.1, ge=0, lt=1, description="Share of the steps trained before ranks are pruned.")
    tfinal: float = Field(0.2, ge=0, lt=1, description="Share of the steps trained at the final ranks.")
    delta_t: int = Field(10, gt=0, description="Steps between two reallocations.")
    beta1: float = Field(0.85, gt=0, lt=1)
    beta2: float = Field(0.85, gt=0, lt=1)
    orth_reg_weight: float = Field(0.5, ge=0)

    @model_validator(mode="after")
    def _room_to_prune(self) -> AdaLoraConfig:
        if self.tinit + self.tfinal >= 1:
            raise PydanticCustomError("cross_key", "adalora.tinit + adalora.tfinal must be below 1")
        return self


class DriftConfig(_Strict):
    """Hidden-state snapshots of a fixed probe set during training (see docs/analysis.md)."""

    enabled: bool = Field(
        False, description="Take snapshots at step 0, every every_steps steps, and of the final model."
    )
    every_steps: int = Field(100, gt=0)
    probe_size: int = Field(256, ge=4, description="Evaluation examples in the probe set (a stratified subset).")
    probe_seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the probe subset, whatever the run's seed.")
    pooling: Literal["mean", "first", "last", "tokens"] = Field(
        "mean", description="Per example: mean over tokens, first (CLS) or last token; or every token."
    )
    max_tokens: int = Field(4096, gt=0, description="Tokens kept with pooling: tokens.")


class UnfreezeConfig(_Strict):
    """Scheduled unfreezing: named base modules start frozen and train after N epochs."""

    modules: list[str] = Field(default_factory=list)
    after_epochs: int = Field(1, ge=0)


def holdout_amount(cls: type, holdout: float) -> float:
    """A held-out share is below 1; a number of examples (1 or more) is whole."""
    if holdout >= 1 and holdout != int(holdout):
        raise ValueError("a share must be below 1, a number of examples a whole number")
    return holdout


class DataConfig(_Strict):
    """Where examples come from when not from ``data_dir`` or the hub."""

    train_file: Path | None = Field(None, description="CSV or JSONL training file.")
    eval_file: Path | None = Field(None, description="CSV or JSONL evaluation file.")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Task field -> file column, e.g. {sentence: text}."
    )
    hub_dataset: str | None = Field(
        None,
        description="Hub dataset used when no files are given; null: the task's own (nyu-mll/glue, rajpurkar/squad_v2).",
    )

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(columns) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; fields are {list(FIELDS)}")
        return columns

    sample_seed: int | None = Field(
        None, ge=0, le=2**32 - 1, description="Seed for the stratified subsets; null uses the run's seed."
    )
    synthetic_size: int = Field(2000, gt=0, description="Training examples the synthetic task makes.")
    eval_split: Literal["eval", "train", "holdout"] = Field(
        "eval",
        description="Evaluate on the evaluation set; on the (subset) training examples, as sanity checks do; or "
        "on a stratified holdout of them, trained on the rest (hyperparameter search keeps dev unseen).",
    )
    holdout: float = Field(
        0.1, gt=0, description="With eval_split: holdout, the share (below 1) or number (1 or more) held out."
    )

    _holdout_amount = field_validator("holdout")(holdout_amount)


class QaConfig(_Strict):
    """Extractive QA (task squad_v2): windows, the head, post-processing (see docs/tasks.md)."""

    head: Literal["answerability", "null-token"] = Field(
        "answerability",
        description="answerability: span head plus a classifier of whether the window holds the answer, trained "
        "jointly; null-token: transformers' head, no answer as a span at token 0 ([CLS], or BOS for decoders).",
    )
    answerable_weight: float = Field(0.5, gt=0, description="λ in span loss + λ·BCE(answerable) (XLNet's 0.5).")
    doc_stride: int | None = Field(
        None, gt=0, description="Tokens two windows of a long context share; null: train.max_length // 3."
    )
    max_question_length: int = Field(64, gt=0, description="Questions are cut to this many tokens (BERT's 64).")
    max_answer_length: int = Field(30, gt=0, description="Longest answer span, in tokens.")
    n_best: int = Field(20, gt=0, description="Best start and end tokens per window searched for the best span.")
    threshold_holdout: float = Field(
        0.1,
        gt=0,
        description="Training questions (a stratified share below 1, or a number) held out of training to choose "
        "the no-answer threshold.",
    )

    no_answer_prior: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="The share of unanswerable questions expected where the model will be used (e.g. 0.5 for "
        "SQuAD 2.0's dev set): the held-out questions are re-weighted to it when the threshold is chosen. "
        "null: their own share.",
    )

    _holdout_amount = field_validator("threshold_holdout")(holdout_amount)

    def stride(self, max_length: int) -> int:
        """``doc_stride``, or its default for windows of ``max_length`` tokens."""
        return self.doc_stride or max_length // 3


TEMPLATE_SLOTS = ("instruction", "input", "response")


class InstructionConfig(_Strict):
    """Instruction tuning of causal LMs (tasks instruction, synthetic_instruction; see docs/tasks.md)."""

    template: str = Field(
        "alpaca",
        description="alpaca: the Alpaca prompt (with and without input); chat: the tokenizer's own chat template; "
        "or a template string with {instruction}, optionally {input}, ending in {response}.",
    )
    loss_on: Literal["response", "all"] = Field(
        "response", description="Tokens that carry the loss: the response and EOS (TRL, QLoRA) or every token."
    )
    packing: bool = Field(
        False,
        description="Pack training examples into train.max_length sequences with per-example position_ids, "
        "attention never crossing examples (evaluation is never packed).",
    )
    generate: int = Field(32, ge=0, description="Held-out prompts answered by greedy decoding after training.")
    max_new_tokens: int = Field(64, gt=0, description="Tokens a generation may emit before it counts as not stopped.")
    bootstrap: int = Field(2000, ge=100, description="Resamples of the eval examples for perplexity's interval.")

    @field_validator("template")
    @classmethod
    def _template_slots(cls, template: str) -> str:
        if template in ("alpaca", "chat"):
            return template
        slots = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        unknown = sorted(set(slots) - set(TEMPLATE_SLOTS))
        if unknown:
            raise ValueError(f"unknown slot(s) {unknown}; a template has {{instruction}}, {{input}} and {{response}}")
        if "response" not in slots:
            raise ValueError("the template has no {response} slot (where the response goes)")
        if not template.endswith("{response}") or slots.count("response") > 1:
            raise ValueError("the template must end with its one {response} slot (EOS follows the response)")
        if "instruction" not in slots:
            raise ValueError("the template has no {instruction} slot")
        return template


class SpeedConfig(_Strict):
    """How a run computes, not what (docs/speed.md): each setting leaves the model and its metrics as
    they would be up to floating-point rounding, except ``group_by_length``, which changes which
    examples share a batch. The defaults are the fast choices that leave results as they are: length
    grouping (which does not) and settings that trade memory for time are off."""

    group_by_length: bool = Field(
        False,
        description="Training batches of similar lengths in random order (the examples shuffled, sorted by length "
        "in groups of speed.group_batches batches, the batches shuffled), so little is padding. Not used where "
        "batches have no padding (speed.padding_free). Off by default: faster (about 2x on MiniLM SST-2) but "
        "lower dev scores at short budgets (docs/speed.md).",
    )
    group_batches: int = Field(
        8,
        ge=2,
        description="Batches per length group (speed.group_by_length). Larger groups pad less but make a batch's "
        "examples more alike: with 50, LoRA on 2,000 STS-B pairs ended at Pearson 0.25-0.53 over 3 seeds, against "
        "0.51-0.74 with 8 and 0.61-0.75 with random batches (docs/speed.md).",
    )
    slice_batches: bool = Field(
        True,
        description="Sentence classification and regression: each padded training batch computed as slices "
        "of similar lengths, each padded only to its own longest, the slices' mean losses weighted by their share "
        "of the batch: the same batch and gradient up to rounding, less padding computed.",
    )
    padding_free: bool = Field(
        True,
        description="Causal-LM tasks: the examples of a batch concatenated into one sequence, each with its own "
        "position_ids, attention never crossing examples: no pad tokens, the same examples per step.",
    )
    frozen_half: bool = Field(
        True,
        description="Adapter methods at bf16/fp16 precision: frozen linear weights stored in that dtype, with no "
        "float32 copy (autocast computes their products in it anyway). Not with drift.enabled (its snapshots are "
        "float32) or a 4-bit base.",
    )
    fused_loss: bool = Field(
        True,
        description="Causal LMs: the LM head and cross-entropy only where the next token carries a label, chunk by "
        "chunk, never a whole batch's logits; checked against the model's own loss on the first batch.",
    )
    fused_optimizer: bool = Field(
        True, description="PyTorch's fused AdamW (one kernel over all parameters) instead of a loop: the same update."
    )
    compile: bool = Field(
        False,
        description="torch.compile the model. Compiling takes minutes and each new batch shape compiles again; it "
        "did not pay on a CPU (docs/benchmarks.md).",
    )
    gradient_checkpointing: bool = Field(
        False,
        description="Recompute activations in the backward pass: about a third more compute for much less "
        "activation memory; for when memory runs out (QLoRA has its own, qlora.gradient_checkpointing).",
    )


class TrainConfig(_Strict):
    """Optimisation and evaluation schedule (mapped onto ``transformers.TrainingArguments``)."""

    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, gt=0, description="Stop after this many steps (overrides epochs).")
    learning_rate: float | None = Field(None, gt=0, description="null: 2e-5 for full fine-tuning, 5e-4 for LoRA.")
    batch_size: int = Field(16, gt=0)
    eval_batch_size: int = Field(64, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    max_length: int = Field(128, gt=0, description="Tokens per example after truncation.")
    weight_decay: float | None = Field(None, ge=0, description="null: 0.01 for full, 0.0 for LoRA.")
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant_with_warmup"] = "linear"
    max_grad_norm: float = Field(1.0, gt=0)
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto",
        description="auto: bf16 autocast on GPUs that support it and on CPUs with native bf16 (AVX-512 BF16, AMX), "
        "fp16 on other GPUs, fp32 on other CPUs. Task heads (not LM heads) compute in float32 throughout.",
    )
    eval_strategy: Literal["epoch", "steps"] = "epoch"
    eval_steps: int | None = Field(None, gt=0, description="Required when eval_strategy is 'steps'.")
    early_stopping_patience: int | None = Field(
        None, gt=0, description="Stop after this many evaluations without improvement."
    )
    logging_steps: int = Field(10, gt=0)
    keep_checkpoints: bool = Field(False, description="Keep checkpoints/ after the run completes.")
    save_model: bool = Field(True, description="Save the adapter (LoRA) or the model (full) into the run folder.")

    @model_validator(mode="after")
    def _eval_steps_given(self) -> TrainConfig:
        if self.eval_strategy == "steps" and self.eval_steps is None:
            raise PydanticCustomError("cross_key", "train.eval_steps is required when train.eval_strategy is 'steps'")
        return self


class RunConfig(_Strict):
    """One fine-tuning run."""

    model: str = Field(description="Hub id, local folder, or built-in: tiny-bert, tiny-llama, tiny-gpt2.")
    task: str = Field(description="A registered task; see docs/configuration.md.")
    data_dir: Path | None = Field(None, description="Local GLUE folder (original TSV layout).")
    data: DataConfig = Field(default_factory=DataConfig)
    max_train_samples: int | None = Field(None, gt=0, description="Stratified subset of train.")
    max_eval_samples: int | None = Field(None, gt=0, description="Stratified subset of dev.")
    method: str = Field(
        "lora",
        description="A registered method: full, lora, adalora, qlora, or a baseline that trains nothing: majority, random.",
    )
    lora: LoraConfig = Field(default_factory=LoraConfig)
    ranks: RanksConfig = Field(default_factory=RanksConfig)
    adalora: AdaLoraConfig = Field(default_factory=AdaLoraConfig)
    qlora: QloraConfig = Field(default_factory=QloraConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    unfreeze: UnfreezeConfig = Field(default_factory=UnfreezeConfig)
    qa: QaConfig = Field(default_factory=QaConfig)
    instruction: InstructionConfig = Field(default_factory=InstructionConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    speed: SpeedConfig = Field(default_factory=SpeedConfig)
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Seed of everything random in the run (0 to 2³² − 1).")
    trust_remote_code: bool = Field(False, description="Allow model code from the hub (off unless asked).")

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, raw: Any) -> Any:
        """Keys that moved, read where configs written before the move have them."""
        if (
            isinstance(raw, dict)
            and isinstance(raw.get("instruction"), dict)
            and "group_by_length" in raw["instruction"]
        ):
            raw = copy.deepcopy(raw)
            speed = raw.setdefault("speed", {})
            if isinstance(speed, dict) and "group_by_length" in speed:
                raise PydanticCustomError(
                    "cross_key", "instruction.group_by_length is now speed.group_by_length; give it once, there"
                )
            if isinstance(speed, dict):
                speed["group_by_length"] = raw["instruction"].pop("group_by_length")
        return raw

    @field_validator("task")
    @classmethod
    def _registered_task(cls, task: str) -> str:
        return one_of(task, TASKS.names())

    @field_validator("method")
    @classmethod
    def _registered_method(cls, method: str) -> str:
        return one_of(method, METHODS.names())

    @model_validator(mode="after")
    def _files_for_generic_tasks(self) -> RunConfig:
        task = TASKS.get(self.task)
        if self.data.hub_dataset is None:  # written out, so that config.yaml says where examples came from
            self.data.hub_dataset = task.hub_dataset
        if task.head == "question-answering":
            stride = self.qa.stride(self.train.max_length)
            if self.train.max_length - self.qa.max_question_length - 3 <= stride:
                raise PydanticCustomError(
                    "cross_key",
                    f"train.max_length {self.train.max_length} leaves too few context tokens per window after "
                    f"qa.max_question_length {self.qa.max_question_length} and 3 special tokens for "
                    f"qa.doc_stride {stride}; raise train.max_length or lower the other two",
                )
        if task.needs_files and (self.data.train_file is None or self.data.eval_file is None):
            raise PydanticCustomError("cross_key", f"task '{self.task}' needs data.train_file and data.eval_file")
        if self.lora.rank_config is not None and self.lora.strategy != "uniform":
            raise PydanticCustomError(
                "cross_key", "lora.rank_config and lora.strategy both choose the ranks; give one of them"
            )
        spec = method_spec(self.method)
        if spec.kind == "baseline" and not getattr(task, "baselines", True):
            raise PydanticCustomError(
                "cross_key",
                f"method {self.method} predicts labels from the training labels; task '{self.task}' has none "
                "(compare with the untrained model instead)",
            )
        chosen = self.lora.rank_config is not None or self.lora.strategy != "uniform"
        if spec.kind == "adapter" and not spec.allocates_ranks and chosen:
            raise PydanticCustomError(
                "cross_key", f"method {self.method} allocates its own ranks; drop lora.rank_config and lora.strategy"
            )
        return self

    def resolved(self) -> RunConfig:
        """A copy with method-dependent defaults filled in (baselines train nothing and keep none)."""
        spec = method_spec(self.method)
        if spec.kind == "baseline":
            return self.model_copy()
        train = self.train.model_copy()
        if train.learning_rate is None:
            train.learning_rate = spec.learning_rate
        if train.weight_decay is None:
            train.weight_decay = spec.weight_decay
        for key, value in spec.train_defaults.items():  # the method's recipe, where the file is silent
            if key not in self.train.model_fields_set:
                setattr(train, key, value)
        return self.model_copy(update={"train": train})

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def is_config_key(dotted: str) -> bool:
    """Whether ``dotted`` names a run-config field (a section, a leaf, or a key inside a mapping field)."""
    model: type[BaseModel] = RunConfig
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
            continue
        last = i == len(parts) - 1
        return last or (typing.get_origin(annotation) is dict and i == len(parts) - 2)
    return True


def set_key(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set a dotted key; a mapping merges into an existing section instead of replacing it."""
    *parents, last = dotted.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    if isinstance(value, dict) and isinstance(node.get(last), dict):
        for key, inner in value.items():
            set_key(node[last], key, inner)
    else:
        node[last] = copy.deepcopy(value)


def _format_error(err: dict[str, Any], keys: dict[str, str] | None = None) -> str:
    path = ".".join(str(p) for p in err["loc"]) or "config"
    path = (keys or {}).get(path, path)
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key"
    if kind == "missing":
        return f"{path}: required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "cross_key":
        return msg  # a rule across keys; its message names them
    if "input" in err and not isinstance(err["input"], dict) and kind not in ("model_type", "dict_type"):
        return f"{path}: {msg} (got {err['input']!r})"
    return f"{path}: {msg}"


def validation_problems(
    exc: ValidationError, source: str | None = None, keys: dict[str, str] | None = None
) -> list[str]:
    """One line per problem of a pydantic error, naming the key at fault (or the rule across keys).

    Args:
        exc: the error of validating a model.
        source: the file (or other input) the values came from, put before each line.
        keys: other names for key paths, e.g. ``{"min_r": "--min-r"}`` for command-line flags.

    Returns:
        The lines, e.g. ``run.yaml: train.epochs: Input should be greater than 0 (got -1)``.
    """
    prefix = f"{source}: " if source else ""
    return [prefix + _format_error(e, keys) for e in exc.errors()]


def validate_mapping(model: type[ModelT], raw: Any, source: str) -> ModelT:
    """Validate a mapping as ``model``; raise ``LorascopeError`` naming every bad key path."""
    if not isinstance(raw, dict):
        raise LorascopeError(f"{source}: expected a mapping of keys at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise LorascopeError("\n".join(validation_problems(exc, source))) from None


def parse_config(raw: Any, source: str = "config") -> RunConfig:
    """Validate a run config mapping; raise ``LorascopeError`` naming every bad key path."""
    return validate_mapping(RunConfig, raw, source)


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = target
    for i, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise LorascopeError(f"override {dotted}: '{'.'.join(keys[: i + 1])}' is not a section")
        node = child
    node[keys[-1]] = value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings; values are parsed as YAML (``3`` → int, ``[a,b]`` → list)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise LorascopeError(f"override '{item}': expected key.sub=value")
        if any(not part for part in key.strip().split(".")):
            raise LorascopeError(f"override '{item}': '{key.strip()}' has an empty part; keys are like lora.r")
        try:
            value = yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            value = text
        _set_dotted(raw, key.strip(), value)
    return raw


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}' (first on line {first[key] + 1})", key_node.start_mark
                )
            first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> Any:
    """Parse YAML safely (no Python objects), refusing duplicate keys."""
    return yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 — a SafeLoader subclass


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, naming the file and line of any syntax error or duplicate key."""
    if not path.is_file():
        raise LorascopeError(f"config file not found: {path}")
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise LorascopeError(f"{path} line {line}: not UTF-8 text (byte {exc.object[exc.start]:#04x})") from None
    except OSError as exc:
        raise LorascopeError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LorascopeError(f"{path}{where}: invalid YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise LorascopeError(f"{path}: expected a mapping of keys at the top level")
    return raw


def load_config(path: Path | str, overrides: list[str] | None = None) -> RunConfig:
    """Load, override and validate a run config; method defaults are resolved."""
    path = Path(path)
    raw = apply_overrides(read_yaml(path), overrides or [])
    return parse_config(raw, source=str(path)).resolved()
