"""The serving workload: a base model, adapters (saved, or random with given ranks: latency does
not depend on weight values), prompts of fixed lengths, batch sizes, how many adapters a batch
mixes and how requests are assigned to them, repetitions, warm-up and seed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from lorascope.config import _Strict, read_yaml, validate_mapping
from lorascope.errors import LorascopeError
from lorascope.models.loading import is_builtin
from lorascope.models.tiny import ARCHITECTURES

MODES = ("adapters", "merged", "base")  # what a benchmark serves: mixed adapters, merged models, the bare base


class SavedAdapter(_Strict):
    name: str
    path: Path = Field(description="A PEFT adapter folder (adapter_config.json + adapter_model.safetensors).")


class RandomAdapters(_Strict):
    """``count`` adapters with random (non-zero) A and B, so each changes the output."""

    count: int = Field(4, ge=1)
    r: int = Field(8, ge=1)
    alpha: float | None = Field(None, gt=0, description="Default: 2·r.")
    target_modules: list[str] | None = Field(None, description="Default: PEFT's for the model family.")


class Prompts(_Strict):
    """Synthetic prompts of exactly ``input_tokens`` tokens, or the first ``count`` texts of a
    dataset file (cut to ``input_tokens``); every answer is exactly ``output_tokens`` long."""

    count: int = Field(32, ge=1, description="Requests per configuration and repetition.")
    input_tokens: int = Field(128, ge=1, description="Synthetic: the length; from a file: the most kept.")
    output_tokens: int = Field(32, ge=1)
    file: Path | None = Field(None, description="JSON list or JSONL of records, e.g. Alpaca's; null: synthetic.")
    field: str = Field("text", description="The record field holding the prompt, e.g. instruction.")


def dataset_texts(prompts: Prompts) -> list[str]:
    """The first ``count`` prompts of ``prompts.file``; errors name the file and the record."""
    import json

    path = prompts.file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LorascopeError(f"prompts.file: {exc}") from None
    try:
        records = (
            json.loads(text)
            if text.lstrip().startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    except json.JSONDecodeError as exc:
        raise LorascopeError(f"{path}: not JSON or JSONL ({exc})") from None
    texts = []
    for i, record in enumerate(records[: prompts.count]):
        if not isinstance(record, dict) or not isinstance(record.get(prompts.field), str):
            raise LorascopeError(f"{path}: record {i} has no text field '{prompts.field}' (prompts.field)")
        texts.append(record[prompts.field])
    if len(texts) < prompts.count:
        raise LorascopeError(f"{path}: {len(texts)} records, fewer than prompts.count = {prompts.count}")
    return texts


class HttpTarget(_Strict):
    """One OpenAI-compatible endpoint and the model names requests go to, in turn by ``assignment``."""

    url: str = "http://127.0.0.1:8000"
    models: list[str] = Field(min_length=1, description="Adapter names (vLLM --lora-modules) or merged model names.")


class Http(_Strict):
    """For ``--backend openai-http``: targets by label (name them adapters and merged for the
    overhead table); ``batch_sizes`` are the concurrency levels."""

    targets: dict[str, HttpTarget] = Field(min_length=1)
    request_rate: float | None = Field(None, gt=0, description="Poisson arrivals per second; null: all at once.")
    fixed_length: bool = Field(
        True, description="Send vLLM's min_tokens and ignore_eos; off for servers that reject unknown fields."
    )


class VllmOptions(_Strict):
    """For ``--backend vllm``: the engine settings that matter on a CPU (docs/serving.md)."""

    cpu_kv_cache_gib: int = Field(
        1, ge=1, description="KV cache on a CPU, in GiB (sets VLLM_CPU_KVCACHE_SPACE); unused on a GPU."
    )
    enforce_eager: bool | None = Field(
        None, description="No compiled graphs: starts in half the time. null: on a CPU, not on a GPU."
    )
    max_model_len: int | None = Field(None, ge=1, description="null: the model's maximum length.")


class Workload(_Strict):
    """A serving benchmark, as read from YAML (see docs/serving.md)."""

    base: str = Field(
        "tiny-llama",
        description="Causal LM: hub id, local folder, or built-in tiny-llama / tiny-gpt2 (random weights).",
    )
    base_config: dict[str, int | float | bool | str] = Field(
        default_factory=dict,
        description="Config fields changed in a built-in base, e.g. num_attention_heads: 2 gives tiny-llama "
        "head size 32, the smallest vLLM's CPU attention takes.",
    )
    adapters: list[SavedAdapter] = Field(default_factory=list)
    random_adapters: RandomAdapters | None = None
    prompts: Prompts = Field(default_factory=Prompts)
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 16])
    adapters_per_batch: int | None = Field(None, ge=1, description="Distinct adapters a batch mixes; default all.")
    assignment: Literal["round-robin", "random", "skewed"] = Field(
        "round-robin", description="Requests to adapters: in turn, uniformly at random, or Zipf-like (1/k)."
    )
    repetitions: int = Field(3, ge=1)
    warmup: int = Field(1, ge=0, description="Untimed batches before each configuration.")
    seed: int = 0
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: bf16 on GPU, fp32 on CPU."
    )
    http: Http | None = Field(None, description="Targets for --backend openai-http.")
    vllm: VllmOptions = Field(default_factory=VllmOptions)

    @model_validator(mode="after")
    def _some_adapters(self) -> Workload:
        if not self.adapters and self.random_adapters is None and self.http is None:
            raise ValueError("give adapters (saved folders), random_adapters, or http targets")
        names = [a.name for a in self.adapters]
        if len(set(names)) < len(names):
            raise ValueError("adapters: names must be distinct")
        if any(b < 1 for b in self.batch_sizes) or not self.batch_sizes:
            raise ValueError("batch_sizes: give positive sizes")
        if self.base_config and not is_builtin(self.base):
            raise ValueError(f"base_config: only for a built-in base ({', '.join(ARCHITECTURES)}), not {self.base}")
        return self

    @property
    def adapter_names(self) -> list[str]:
        names = [a.name for a in self.adapters]
        if self.random_adapters is not None:
            names += [f"random-{i}" for i in range(self.random_adapters.count)]
        return names


def load_workload(path: Path | str, overrides: list[str] | None = None) -> Workload:
    """Read and validate a workload file; errors name the file and key."""
    from lorascope.config import apply_overrides

    path = Path(path)
    workload = validate_mapping(Workload, apply_overrides(read_yaml(path), overrides or []), str(path))
    for i, adapter in enumerate(workload.adapters):
        if not (adapter.path / "adapter_config.json").is_file():
            what = "not found" if not adapter.path.exists() else "has no adapter_config.json (not a PEFT adapter)"
            raise LorascopeError(f"{path}: adapters[{i}].path: {adapter.path} {what}")
    return workload


def needs_adapters(workload: Workload, backend: str) -> None:
    """The in-process backends serve adapters; a workload of HTTP targets alone is for openai-http."""
    if not workload.adapters and workload.random_adapters is None:
        raise LorascopeError(
            f"--backend {backend}: the workload has no adapters or random_adapters to serve "
            "(its http: targets are for --backend openai-http)"
        )
