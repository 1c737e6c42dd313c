"""Models and tokenizers by hub id, local folder or built-in tiny name, with one-line errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
)

from lorascope.errors import LorascopeError
from lorascope.models.precision import float32_head
from lorascope.models.qa import CLASSIFIER, QuestionAnsweringHead
from lorascope.models.tiny import ARCHITECTURES, tiny_config_and_tokenizer

HEADS = {
    "sequence-classification": AutoModelForSequenceClassification,
    "question-answering": QuestionAnsweringHead,
    "causal-lm": AutoModelForCausalLM,
}
# The task heads of the heads lorascope builds: never quantized, never adapted by "all linear layers"
HEAD_MODULES = ("classifier", "score", "qa_outputs", CLASSIFIER, "lm_head")
PREDICTION_HEADS = tuple(h for h in HEAD_MODULES if h != "lm_head")  # float32 under autocast (models.precision)


def is_builtin(name: str) -> bool:
    return name in ARCHITECTURES


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or name.endswith("/") or name.count("/") > 1


def _source(name: str) -> str:
    """A local folder path, or the hub id itself; a missing folder is an error here."""
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise LorascopeError(f"model: folder {path} has no config.json (not a transformers model folder)")
        return str(path)
    if _looks_like_path(name):
        raise LorascopeError(f"model: folder not found: {path}")
    return name


def _hub_error(name: str, exc: Exception) -> LorascopeError:
    """Why ``name`` could not be loaded: a local folder's own problem (a broken config.json, missing
    weights), a failure of the model's own code, or the hub being out of reach."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    path = Path(name).expanduser()
    if path.exists():
        return LorascopeError(f"model: folder {path} cannot be loaded: {first[:300]}")
    if not isinstance(exc, OSError):  # the model's own code (trust_remote_code) raised
        return LorascopeError(f"model '{name}': its code failed ({type(exc).__name__}: {first[:200]})")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    why = "HF_HUB_OFFLINE is set and it is not in the local cache" if offline else "the hub could not be reached"
    return LorascopeError(f"model '{name}': not a local folder, and {why} ({first[:200]})")


def _remote_code_notice(name: str, trust_remote_code: bool) -> None:
    if trust_remote_code:
        print(
            f"note: trust_remote_code is true: Python code that comes with '{name}' runs in this process",
            file=sys.stderr,
        )


def load_model_config(
    name: str,
    num_labels: int | None = None,
    label_names: tuple[str, ...] | None = None,
    trust_remote_code: bool = False,
) -> PretrainedConfig:
    """The model's config with the task's labels (if any): cheap, used to validate before work starts."""
    labels = {"num_labels": num_labels} if num_labels is not None else {}
    if label_names:
        labels = {"id2label": dict(enumerate(label_names)), "label2id": {n: i for i, n in enumerate(label_names)}}
    if is_builtin(name):
        config, _ = tiny_config_and_tokenizer(name)
        for key, value in labels.items():
            setattr(config, key, value)
        return config
    source = _source(name)
    _remote_code_notice(name, trust_remote_code)
    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code, **labels)
    except OSError as exc:
        raise _hub_error(name, exc) from None
    except ValueError as exc:
        if Path(name).expanduser().exists():
            raise _hub_error(name, exc) from None
        raise LorascopeError(f"model '{name}': {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # noqa: BLE001 — only the model's own code gets here
        if not trust_remote_code:
            raise
        raise _hub_error(name, exc) from None


def load_tokenizer(name: str, trust_remote_code: bool = False):
    if is_builtin(name):
        return tiny_config_and_tokenizer(name)[1]
    try:
        tokenizer = AutoTokenizer.from_pretrained(_source(name), trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise _hub_error(name, exc) from None
    except Exception as exc:  # noqa: BLE001 — only the model's own code gets here
        if not trust_remote_code:
            raise
        raise _hub_error(name, exc) from None
    if tokenizer.pad_token is None:  # decoders (Llama, GPT-2) ship without one
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def skeleton(config: PretrainedConfig, head: str = "sequence-classification") -> torch.nn.Module:
    """The architecture on the meta device (no memory, no weights) for checking module names."""
    with torch.device("meta"):
        return HEADS[head].from_config(config)


def load_model(
    name: str,
    config: PretrainedConfig,
    tokenizer,
    head: str = "sequence-classification",
    trust_remote_code: bool = False,
    quantization=None,
) -> torch.nn.Module:
    """Pretrained weights (new task head initialised at random) or a random tiny model; with a
    ``BitsAndBytesConfig`` as ``quantization``, a 4-bit base whose per-layer quantization errors
    are in its ``quantization_errors`` attribute (``models.quantization``). A classification,
    regression or QA head computes in float32 under autocast (``models.precision``)."""
    model = _load(name, config, tokenizer, head, trust_remote_code, quantization)
    if head != "causal-lm":
        float32_head(model, PREDICTION_HEADS)
    return model


def _load(name: str, config: PretrainedConfig, tokenizer, head: str, trust_remote_code: bool, quantization):
    config.pad_token_id = tokenizer.pad_token_id
    auto = HEADS[head]
    if quantization is not None:
        from lorascope.models.quantization import load_quantized

        build = (lambda: auto.from_config(config)) if is_builtin(name) else None
        try:
            model, errors = load_quantized(auto, _source(name), config, quantization, trust_remote_code, build)
        except OSError as exc:
            raise _hub_error(name, exc) from None
        model.quantization_errors = errors
        return model
    if is_builtin(name):
        return auto.from_config(config)
    try:
        # fp32 master weights whatever the checkpoint's dtype (mixed precision is the Trainer's job);
        # a head trained for another label count is replaced by a fresh one
        return auto.from_pretrained(
            _source(name),
            config=config,
            dtype=torch.float32,
            ignore_mismatched_sizes=True,
            trust_remote_code=trust_remote_code,
        )
    except OSError as exc:
        raise _hub_error(name, exc) from None
    except Exception as exc:  # noqa: BLE001 — only the model's own code gets here
        if not trust_remote_code:
            raise
        raise _hub_error(name, exc) from None


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts of the model as it computes.

    PEFT's frozen originals of ``modules_to_save`` are not counted: their trainable copies are.
    """
    params = [p for _, p in _counted(model)]
    return sum(p.numel() for p in params if p.requires_grad), sum(logical_size(p) for p in params)


def _counted(model: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The model's parameters as it computes: PEFT's frozen originals of ``modules_to_save`` left out."""
    return [(n, p) for n, p in model.named_parameters() if ".original_module." not in n]


def logical_size(parameter: torch.Tensor) -> int:
    """Parameters a tensor stands for: a 4-bit weight packs two into each stored byte."""
    state = getattr(parameter, "quant_state", None)
    return int(torch.Size(state.shape).numel()) if state is not None else parameter.numel()


def memory_bytes(model: torch.nn.Module) -> dict[str, int]:
    """Bytes of the model as it trains (parameters and buffers as stored), of its trainable part, and
    of its LoRA adapters (PEFT's ``lora_`` parameters; 0 without)."""
    params = _counted(model)
    stored = sum(p.nbytes for _, p in params) + sum(b.nbytes for b in model.buffers())
    return {
        "model": stored,
        "trainable": sum(p.nbytes for _, p in params if p.requires_grad),
        "adapters": sum(p.nbytes for n, p in params if ".lora_" in n),
    }
