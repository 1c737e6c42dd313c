"""Adapters ready for serving: each finished LoRA run's adapter as PEFT saved it
(``adapter_config.json`` + ``adapter_model.safetensors``) and, on request, its merged full model
(PEFT ``merge_and_unload``, safetensors, with the tokenizer)."""

from __future__ import annotations

import shutil
from pathlib import Path

from lorascope.errors import LorascopeError
from lorascope.io import write_json
from lorascope.records import RunFolder
from lorascope.serving.vllm_check import check_vllm


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
        records.append(record)
    if not records:
        raise LorascopeError("no LoRA runs among the folders given: nothing to export")
    write_json(out / "exported.json", records)
    return records
