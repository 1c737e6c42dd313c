"""Adapters ready for serving: each finished LoRA run's adapter as PEFT saved it
(``adapter_config.json`` + ``adapter_model.safetensors``) and, on request, its merged full model
(PEFT ``merge_and_unload``, safetensors, with the tokenizer; a QLoRA adapter is merged into a
float32 dequantized copy of its 4-bit base, never into the 4-bit weights), with how far the merged
outputs are from the unmerged adapter's."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from lorascope.errors import LorascopeError
from lorascope.io import write_json
from lorascope.models.loading import load_tokenizer
from lorascope.records import RunFolder
from lorascope.serving.vllm_check import check_vllm


def merge_check(merged: torch.nn.Module, models) -> dict[str, float | int]:
    """How far the merged model's outputs are from the unmerged adapter's over the base it trained on
    (4-bit for QLoRA, its products in float32 as the merged copy's are), on the first batch of the
    run's probe set: the largest absolute difference."""
    from lorascope.analysis.probes import probe_batches

    tokenizer = load_tokenizer(models.config.model, models.config.trust_remote_code)
    batch = probe_batches(models.config, models.checked.data, tokenizer)[0]
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    unmerged = models.adapted(compute_dtype=torch.float32).eval()
    with torch.no_grad():
        a, b = merged.eval()(**inputs), unmerged(**inputs)
    pairs = [(x, b[k]) for k, x in a.items() if isinstance(x, torch.Tensor) and k != "loss"]
    largest = max(float((x.float() - y.float()).abs().max()) for x, y in pairs)
    return {"max_abs_difference": largest, "inputs": int(inputs["input_ids"].shape[0])}


def export_runs(
    runs: list[tuple[Path | RunFolder, str | None]], out: Path, merged: bool = False, max_lora_rank: int = 16
) -> list[dict]:
    """Export every adapter run of ``runs`` (folder, label) into ``out/adapters/<name>`` (and
    ``out/merged/<name>``); returns one record per run with vLLM's objections, if any."""
    from lorascope.analysis.run_models import RunModels

    records = []
    for given, label in runs:
        run = given if isinstance(given, RunFolder) else RunFolder(given)
        if run.status() != "done":
            raise LorascopeError(f"{run.path}: the run did not finish (no results.json)")
        results = run.results()
        if results.artifact != "adapter":
            continue  # full fine-tuning or a baseline: nothing to serve as an adapter
        name = f"{label}-seed{results.seed}" if label else run.path.name
        adapter = out / "adapters" / name
        shutil.copytree(run / results.artifact, adapter, dirs_exist_ok=True)
        record = {"run": str(run.path), "name": name, "adapter": str(adapter)}
        record["vllm_problems"] = check_vllm(adapter, max_lora_rank)
        if merged:
            models = RunModels(run)
            model = models.tuned()
            target = out / "merged" / name
            model.save_pretrained(target, safe_serialization=True)
            for file in [*adapter.glob("tokenizer*"), *adapter.glob("special_tokens_map.json")]:
                shutil.copyfile(file, target / file.name)
            record["merged"] = str(target)
            record["merged_into"] = "dequantized 4-bit base" if results.quantization else "base"
            record["merge_check"] = merge_check(model, models)
        records.append(record)
    if not records:
        raise LorascopeError("no LoRA runs among the folders given: nothing to export")
    write_json(out / "exported.json", records)
    return records
