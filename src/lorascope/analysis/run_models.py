"""The models of a finished run, rebuilt from its folder: the base model it started from and the
fine-tuned model it kept (its adapter merged into the base by PEFT, or its full model)."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from lorascope.analysis.probes import BaseCache, base_key, hidden_states, load_snapshot, probe_batches, save_snapshot
from lorascope.config import RunConfig
from lorascope.errors import LorascopeError
from lorascope.models.loading import HEADS, load_tokenizer
from lorascope.models.quantization import dequantized, describe
from lorascope.records import RunFolder
from lorascope.training.run import Preflight, preflight, starting_model


class RunModels:
    """One run folder: its config, data and models, each loaded when first asked for."""

    def __init__(self, run_dir: Path | str | RunFolder):
        self.folder = run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)
        self.dir = self.folder.path
        if not self.folder.has_config():
            raise LorascopeError(f"{self.dir}: no config.yaml (not a run folder)")
        self.config: RunConfig = self.folder.config()
        self._checked: Preflight | None = None

    @property
    def checked(self) -> Preflight:
        if self._checked is None:
            self._checked = preflight(self.config)
        return self._checked

    def base(self) -> tuple[torch.nn.Module, object]:
        """(model, tokenizer) exactly as the run started (built-in random models re-seeded). A 4-bit
        base (QLoRA) comes as its float32 dequantized copy, deq(q(W)): what the adapter was trained on."""
        head, quantization = self.checked.data.task.head, self.checked.quantization
        model, tokenizer = starting_model(self.config, self.checked.model_config, head, quantization)
        if quantization is not None:
            model = dequantized(model, HEADS[head], self.checked.model_config)
        return model, tokenizer

    def adapted(self, compute_dtype: torch.dtype | None = None) -> torch.nn.Module:
        """The kept adapter over the base as it trained (4-bit for QLoRA), not merged; ``compute_dtype``
        replaces the run's dtype of the 4-bit layers' products (float32 to compare with a merged copy)."""
        from peft import PeftModel

        self._artifact("adapter")
        head, quantization = self.checked.data.task.head, self.checked.quantization
        if quantization is not None and compute_dtype is not None:
            quantization = copy.deepcopy(quantization)
            quantization.bnb_4bit_compute_dtype = compute_dtype
        base, _ = starting_model(self.config, self.checked.model_config, head, quantization)
        return PeftModel.from_pretrained(base, self.dir / "adapter")

    def tuned(self) -> torch.nn.Module:
        """The model the run kept; an adapter is merged into its base model (PEFT ``merge_and_unload``),
        for QLoRA into the dequantized copy of its 4-bit base."""
        artifact = self._artifact()
        if artifact == "adapter":
            from peft import PeftModel

            base, _ = self.base()
            return PeftModel.from_pretrained(base, self.dir / artifact).merge_and_unload()
        auto = HEADS[self.checked.data.task.head]
        return auto.from_pretrained(self.dir / artifact, dtype=torch.float32)

    def _artifact(self, expected: str | None = None) -> str:
        if self.folder.status() != "done":
            raise LorascopeError(f"{self.dir}: the run did not finish (no results.json)")
        artifact = self.folder.results().artifact
        if artifact is None or (expected and artifact != expected):
            raise LorascopeError(
                f"{self.dir}: the run kept no {expected or 'model'} (train.save_model was false, or a baseline)"
            )
        return artifact

    def probe_states(self, model: torch.nn.Module, tokenizer) -> dict[int, torch.Tensor]:
        """The probe set's hidden states under ``model`` (moved to the GPU when there is one),
        pooled as the run's snapshots are."""
        drift = self.config.drift
        batches = probe_batches(self.config, self.checked.data, tokenizer)
        if torch.cuda.is_available():
            model = model.to("cuda")
        states = hidden_states(model, batches, drift.pooling, drift.max_tokens)
        return {int(name.split(".")[1]): value for name, value in states.items()}

    def base_states(self, cache: BaseCache | None) -> dict[int, torch.Tensor]:
        """The base model's probe-set snapshot: from ``cache`` when it holds it, else computed (and cached)."""
        key = base_key(self.config, self.checked.data, describe(self.checked.quantization))
        return self._cached_states(cache, key, self.base)

    def original_states(self, cache: BaseCache | None) -> dict[int, torch.Tensor] | None:
        """For a 4-bit base (QLoRA): the probe-set snapshot of the full-precision base it was quantized
        from (shared in ``cache`` with the runs of that base); None for other runs."""
        if self.checked.quantization is None:
            return None
        head = self.checked.data.task.head
        return self._cached_states(
            cache,
            base_key(self.config, self.checked.data),
            lambda: starting_model(self.config, self.checked.model_config, head),
        )

    def _cached_states(self, cache: BaseCache | None, key: str, build) -> dict[int, torch.Tensor]:
        if cache is not None and cache.path(key).is_file():
            return load_snapshot(cache.path(key))
        model, tokenizer = build()
        states = self.probe_states(model, tokenizer)
        if cache is not None:
            save_snapshot({f"layer.{i}": v for i, v in states.items()}, cache.path(key), 0, self.config.drift.pooling)
        return states

    def final_states(self) -> dict[int, torch.Tensor]:
        """The kept model's probe-set snapshot, computed from its saved weights."""
        tokenizer = load_tokenizer(self.config.model, self.config.trust_remote_code)
        return self.probe_states(self.tuned(), tokenizer)
