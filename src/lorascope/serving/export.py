"""Adapters ready for serving: each finished LoRA run's adapter as PEFT saved it
(``adapter_config.json`` + ``adapter_model.safetensors``) and, on request, its merged full model
(PEFT ``merge_and_unload``, safetensors, with the tokenizer; a QLoRA adapter is merged into a
float32 dequantized copy of its 4-bit base, never into the 4-bit weights), with how far the merged
outputs are from the unmerged adapter's.

Causal-LM adapters (instruction tuning) also get a serve-bench workload over the base they trained
on: the hub id or folder as the run named it, or, where no name gives those weights (a built-in
random model, a QLoRA run's dequantized 4-bit base), the base saved to ``base/<name>``. Adapters of
other heads (sequence classification, QA) carry their task head and are exported without one."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
import yaml

from lorascope.errors import LorascopeError
from lorascope.io import write_json
from lorascope.models.loading import load_model_config, load_tokenizer
from lorascope.records import RunFolder
from lorascope.registry import TASKS
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
    ``out/merged/<name>``) and write a serve-bench workload per base of the causal-LM adapters;
    returns one record per run with vLLM's objections, if any, and its workload."""
    from lorascope.analysis.run_models import RunModels

    records, workloads = [], {}
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
        models = RunModels(run)  # its data and models load only when a merge or a saved base needs them
        head = TASKS[models.config.task].head
        model_config = load_model_config(models.config.model, trust_remote_code=models.config.trust_remote_code)
        record = {"run": str(run.path), "name": name, "adapter": str(adapter), "head": head}
        record["vllm_problems"] = check_vllm(adapter, max_lora_rank, model_config.model_type)
        if merged:
            model = models.tuned()
            target = out / "merged" / name
            model.save_pretrained(target, safe_serialization=True)
            for file in [*adapter.glob("tokenizer*"), *adapter.glob("special_tokens_map.json")]:
                shutil.copyfile(file, target / file.name)
            record["merged"] = str(target)
            record["merged_into"] = "dequantized 4-bit base" if results.quantization else "base"
            record["merge_check"] = merge_check(model, models)
        if head == "causal-lm":
            base = _serving_base(models, bool(results.quantization), out / "base" / name)
            workloads.setdefault(base, []).append({"name": name, "path": str(adapter.resolve())})
        records.append(record)
    if not records:
        raise LorascopeError("no LoRA runs among the folders given: nothing to export")
    for base, adapters in workloads.items():
        path = out / ("workload.yaml" if len(workloads) == 1 else f"workload-{adapters[0]['name']}.yaml")
        _write_workload(path, base, adapters)
        for record in records:
            if any(a["name"] == record["name"] for a in adapters):
                record["workload"] = str(path)
    write_json(out / "exported.json", records)
    return records


def _serving_base(models, quantized: bool, folder: Path) -> str:
    """The base as serve-bench should load it: the run's model name when that gives the weights the
    adapter trained on, else those weights saved to ``folder`` (with the tokenizer)."""
    from lorascope.models.loading import _source, is_builtin

    config = models.config
    if not is_builtin(config.model) and not quantized:
        source = _source(config.model)
        return str(Path(source).resolve()) if Path(source).expanduser().exists() else source
    model, tokenizer = models.base()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return str(folder.resolve())


def _write_workload(path: Path, base: str, adapters: list[dict]) -> None:
    workload = {"base": base, "adapters": adapters, "prompts": {"count": 32, "input_tokens": 128, "output_tokens": 32}}
    header = (
        "# The exported adapters on the base they trained on (lorascope serve-export); docs/serving.md.\n"
        f"#   lorascope serve-bench {path}                  # PEFT in-process\n"
        f"#   lorascope serve-bench {path} --backend vllm   # vLLM (GPU, or its CPU build)\n"
    )
    path.write_text(header + yaml.safe_dump(workload, sort_keys=False), encoding="utf-8")
