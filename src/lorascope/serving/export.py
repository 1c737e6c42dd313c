"""Adapters ready for serving: each finished LoRA run's adapter as PEFT saved it
(``adapter_config.json`` + ``adapter_model.safetensors``) and, on request, its merged full model
(PEFT ``merge_and_unload``, safetensors, with the tokenizer)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lorascope.errors import LorascopeError
from lorascope.serving.vllm_check import check_vllm


def export_runs(
    runs: list[tuple[Path, str | None]], out: Path, merged: bool = False, max_lora_rank: int = 16
) -> list[dict]:
    """Export every adapter run of ``runs`` (folder, label) into ``out/adapters/<name>`` (and
    ``out/merged/<name>``); returns one record per run with vLLM's objections, if any."""
    from lorascope.analysis.run_models import RunModels

    records = []
    for run_dir, label in runs:
        results_path = run_dir / "results.json"
        if not results_path.is_file():
            raise LorascopeError(f"{run_dir}: the run did not finish (no results.json)")
        results = json.loads(results_path.read_text(encoding="utf-8"))
        if results.get("artifact") != "adapter":
            continue  # full fine-tuning or a baseline: nothing to serve as an adapter
        name = f"{label}-seed{results['seed']}" if label else run_dir.name
        adapter = out / "adapters" / name
        shutil.copytree(run_dir / "adapter", adapter, dirs_exist_ok=True)
        record = {"run": str(run_dir), "name": name, "adapter": str(adapter)}
        record["vllm_problems"] = check_vllm(adapter, max_lora_rank)
        if merged:
            models = RunModels(run_dir)
            model = models.tuned()
            target = out / "merged" / name
            model.save_pretrained(target, safe_serialization=True)
            for file in [*adapter.glob("tokenizer*"), *adapter.glob("special_tokens_map.json")]:
                shutil.copyfile(file, target / file.name)
            record["merged"] = str(target)
        records.append(record)
    if not records:
        raise LorascopeError("no LoRA runs among the folders given: nothing to export")
    (out / "exported.json").write_text(json.dumps(records, indent=2), encoding="utf-8")
    return records
