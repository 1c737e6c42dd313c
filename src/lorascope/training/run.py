"""One fine-tuning run: validate, load, adapt, train, evaluate, write the run folder.

Run folder::

    config.yaml            resolved config (reproduces the run on its own)
    environment.json       versions, device, precision, seed
    train_log.jsonl        every Trainer log line
    checkpoints/           while running (kept with train.keep_checkpoints)
    adapter/ or model/     PEFT adapter (safetensors) or the full model, plus tokenizer
    eval_predictions.jsonl one line per eval example: id, label, prediction
    results.json           written only when the run completed (then checkpoints/ is removed)

Baselines (``method: majority`` or ``random``) train nothing and write the same files less the
log, checkpoints and weights.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import (
    EarlyStoppingCallback,
    PretrainedConfig,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import get_last_checkpoint

from lorascope.analysis.probes import BaseCache, DriftSnapshots, base_key, probe_batches
from lorascope.config import RunConfig
from lorascope.data.evaluation import Evaluation, Predictor
from lorascope.data.tasks import TaskData, load_task_data
from lorascope.errors import LorascopeError
from lorascope.io import json_safe, write_csv, write_json, write_predictions
from lorascope.methods.base import MethodContext
from lorascope.methods.lora import resolve_targets
from lorascope.methods.unfreeze import ScheduledUnfreeze, check_unfreeze_modules, scheduled_parameters
from lorascope.models.loading import (
    count_parameters,
    load_model,
    load_model_config,
    load_tokenizer,
    memory_bytes,
    skeleton,
)
from lorascope.models.precision import store_frozen_linears
from lorascope.models.quantization import describe
from lorascope.plotting import save_figure
from lorascope.ranks.rank_config import FILE_NAME, RankConfig, check_layers, read_rank_config, write_rank_config
from lorascope.ranks.strategies import allocate_ranks
from lorascope.records import Environment, RunFolder, RunResults
from lorascope.registry import method_spec
from lorascope.training.callbacks import FiniteLoss, JsonlLog, RunProgress, TimeLimit, TrainClock, truncate_log
from lorascope.training.environment import choose_precision, environment, peak_memory_mb, reset_peak_memory
from lorascope.training.lm_loss import SupervisedLogitsLoss
from lorascope.training.trainer import LorascopeTrainer, selection_metrics, slice_overhead


@dataclass
class Preflight:
    """What validation learned, reused by the run so nothing is loaded twice."""

    data: TaskData
    model_config: PretrainedConfig | None  # None for baselines, which need no model
    lora_targets: list[str] | None
    unfreeze_modules: list[str]  # full module names, so PEFT's suffix match cannot catch others
    rank_config: RankConfig | None = None  # lora.rank_config, read and checked
    use_cache: bool | None = None  # the model's own, which the Trainer turns off for training
    quantization: object | None = None  # the method's 4-bit loading (a BitsAndBytesConfig: QLoRA), if any


def preflight(cfg: RunConfig) -> Preflight:
    """Every check that can fail before training: data, model source, module names."""
    data = load_task_data(cfg)
    if not data.train or not data.eval:
        raise LorascopeError(f"task {cfg.task}: no training or evaluation examples")
    spec = method_spec(cfg.method)
    if spec.kind == "baseline":
        return Preflight(data, None, None, [])
    quantization = spec.behaviour().quantization(cfg, choose_precision(cfg.train.precision))  # e.g. needs bitsandbytes
    config = load_model_config(cfg.model, data.task.num_labels, data.task.label_names, cfg.trust_remote_code)
    data.task.configure_model(config)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and cfg.train.max_length > positions:
        raise LorascopeError(
            f"train.max_length: {cfg.train.max_length} is more than the {positions} positions of model {cfg.model}"
        )
    model_skeleton = skeleton(config, data.task.head)
    targets = resolve_targets(model_skeleton, cfg.lora, spec.all_linear) if spec.kind == "adapter" else None
    ranks = None
    if cfg.lora.rank_config is not None and spec.allocates_ranks:
        ranks = read_rank_config(cfg.lora.rank_config)
        check_layers(model_skeleton, ranks, f"lora.rank_config {cfg.lora.rank_config}", targets)
    unfreeze = check_unfreeze_modules(model_skeleton, cfg.unfreeze.modules, targets)
    return Preflight(data, config, targets, unfreeze, ranks, getattr(config, "use_cache", None), quantization)


def _check_out_dir(folder: RunFolder, cfg: RunConfig, resume: bool) -> str | None:
    """The checkpoint to resume from, after refusing to mix runs in one folder."""
    out = folder.path
    if folder.results_path.exists():
        raise LorascopeError(f"--out {out}: already holds a completed run (results.json); choose another folder")
    checkpoints = folder.checkpoints
    last = _last_complete_checkpoint(checkpoints)
    if last and not resume:
        raise LorascopeError(
            f"--out {out}: holds checkpoints of an unfinished run; pass --resume or choose another folder"
        )
    if resume and folder.has_config():
        saved = folder.config()
        if saved != cfg:
            diff = _differing_keys(cfg.model_dump(mode="json"), saved.model_dump(mode="json"))
            raise LorascopeError(f"--resume: config differs from {folder.config_path} in: {', '.join(diff)}")
    if resume and not last:
        print(f"note: no checkpoint in {checkpoints}; starting from the beginning", file=sys.stderr)
    return last if resume else None


def _last_complete_checkpoint(folder: Path) -> str | None:
    """The newest checkpoint that is whole; one cut short by a kill (its trainer state missing or torn,
    a weights or optimizer file truncated) is removed, and the one before it is tried."""
    while folder.is_dir() and (last := get_last_checkpoint(str(folder))):
        if _is_whole(Path(last)):
            return last
        print(f"note: {last} was cut short (a kill while saving); resuming from the one before", file=sys.stderr)
        shutil.rmtree(last)
    return None


def _is_whole(checkpoint: Path) -> bool:
    """The trainer state (written last) parses, every safetensors file holds all the bytes its header
    promises, and every PyTorch file (a zip archive) has its directory, which is written at its end."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        for path in checkpoint.glob("*.safetensors"):
            with path.open("rb") as handle:
                size = int.from_bytes(handle.read(8), "little")
                header = json.loads(handle.read(size))
            end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
            if path.stat().st_size < 8 + size + end:
                return False
        for path in [*checkpoint.glob("*.pt"), *checkpoint.glob("*.pth"), *checkpoint.glob("*.bin")]:
            zipfile.ZipFile(path).close()
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):  # JSONDecodeError is a ValueError
        return False
    return True


def _differing_keys(new: dict, old: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in new.keys() | old.keys():
        a, b = new.get(key), old.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _differing_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(prefix + key)
    return sorted(keys)


def _speed_options(cfg: RunConfig, task) -> dict[str, object]:
    """The ``TrainingArguments`` of ``speed:`` (the method's own options are applied after these; length
    grouping is the Trainer's sampler, ``_trainer``)."""
    s = cfg.speed
    options: dict[str, object] = {"optim": "adamw_torch_fused" if s.fused_optimizer else "adamw_torch"}
    if s.compile:
        options["torch_compile"] = True
    if s.gradient_checkpointing:
        options |= {"gradient_checkpointing": True, "gradient_checkpointing_kwargs": {"use_reentrant": False}}
    return options


def _training_arguments(cfg: RunConfig, output_dir: Path, precision: str, task) -> TrainingArguments:
    t = cfg.train
    steps = t.eval_strategy == "steps"
    spec = method_spec(cfg.method)
    checkpoints = spec.checkpoints  # else the final model is the one reported
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_steps=t.warmup_ratio,
        lr_scheduler_type=t.scheduler,
        max_grad_norm=t.max_grad_norm,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        eval_strategy=t.eval_strategy,
        eval_steps=t.eval_steps if steps else None,
        save_strategy=t.eval_strategy if checkpoints else "no",
        save_steps=t.eval_steps if steps else None,
        save_total_limit=2,
        load_best_model_at_end=checkpoints,
        metric_for_best_model=task.main_metric,
        greater_is_better=task.main_metric not in task.lower_is_better,
        logging_steps=t.logging_steps,
        logging_nan_inf_filter=False,  # a NaN loss is logged as NaN, so that FiniteLoss fails the run
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=not torch.cuda.is_available(),
        remove_unused_columns=False,
        label_names=list(task.label_keys),
        restore_callback_states_from_checkpoint=True,
        dataloader_num_workers=0,
        disable_tqdm=False,  # else the Trainer prints every log dict; its bar is replaced by RunProgress
        **(_speed_options(cfg, task) | spec.behaviour().trainer_options(cfg)),
    )


def _results(cfg: RunConfig, checked: Preflight, env: Environment, metrics: dict[str, float], **fields) -> RunResults:
    task = checked.data.task
    return RunResults(
        **env.model_dump(exclude={"schema_version"}),
        task=cfg.task,
        model=cfg.model,
        method=cfg.method,
        metrics=json_safe(metrics),
        main_metric=task.main_metric,
        **fields,
        lora_targets=checked.lora_targets,
        label_names=list(task.label_names) if task.label_names else None,
        train_examples=len(checked.data.train),
        eval_examples=len(checked.data.eval),
        lower_is_better=[m for m in metrics if m in task.lower_is_better],
    )


def _run_baseline(cfg: RunConfig, folder: RunFolder, checked: Preflight, env: Environment) -> RunResults:
    """Score predictions drawn from the training labels alone (``method: majority`` or ``random``)."""
    task, data = checked.data.task, checked.data
    started = time.perf_counter()
    train_labels = np.array([r["label"] for r in data.train])
    hooks = method_spec(cfg.method).behaviour()
    evaluation = task.evaluate_baseline(hooks.predict(cfg, train_labels, len(data.eval), task.regression), data)
    _write_evaluation(folder, data.eval, evaluation)
    results = _results(
        cfg,
        checked,
        env,
        evaluation.metrics,
        best_checkpoint=None,
        trainable_params=0,
        total_params=0,
        lora_params=None,
        rank_strategy=None,
        steps=0,
        epochs=0.0,
        train_seconds=round(time.perf_counter() - started, 3),
        peak_memory_mb=None,
        artifact=None,
        resumed_from=None,
    )
    folder.write_results(results)
    return results


def _write_evaluation(folder: RunFolder, records: list[dict], evaluation: Evaluation) -> None:
    """``eval_predictions.jsonl`` and the task's own files (SQuAD's official formats, say)."""
    write_predictions(folder.predictions, records, evaluation.predictions, evaluation.columns)
    for name, content in evaluation.files.items():
        write_json(folder.output(name), content)


def _rank_config(cfg: RunConfig, folder: RunFolder, checked: Preflight) -> RankConfig | None:
    """The per-layer ranks of a LoRA run: its ``lora.rank_config`` (copied into the run folder for
    the record), or the ranks its ``lora.strategy`` allocates into ``out/ranks``; None for rank ``lora.r``."""
    if not method_spec(cfg.method).allocates_ranks:
        return None
    if checked.rank_config is not None:
        write_rank_config(checked.rank_config, folder / FILE_NAME)
        return checked.rank_config
    if cfg.lora.strategy == "uniform":
        return None
    targets = checked.lora_targets or []
    base = _dequantized_base(cfg, folder.ranks / "dequantized-base", checked)
    ranks_cfg = cfg if base is None else cfg.model_copy(update={"model": str(base)})
    return read_rank_config(
        allocate_ranks(ranks_cfg, folder.ranks, checked.data, targets, checked.model_config, brief_finetune)
    )


def _dequantized_base(cfg: RunConfig, out: Path, checked: Preflight) -> Path | None:
    """For a method with a 4-bit base (QLoRA): its float32 dequantized copy saved in ``out``, from which
    rank strategies measure ΔW and Fisher information, so that they see the base the adapters sit on."""
    if checked.quantization is None:
        return None
    if not (out / "config.json").is_file():
        from lorascope.models.loading import HEADS
        from lorascope.models.quantization import dequantized

        head = checked.data.task.head
        model, tokenizer = starting_model(cfg, checked.model_config, head, checked.quantization)
        dequantized(model, HEADS[head], checked.model_config).save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
    return out


def brief_finetune(cfg: RunConfig, out: Path, max_seconds: float | None) -> RunResults:
    """The brief full fine-tune of rank allocation (svd-energy): an ordinary run, resumed where it
    stopped, cut short after ``max_seconds``."""
    return run_training(cfg, out, resume=True, callbacks=[TimeLimit(max_seconds)] if max_seconds else [])


def starting_model(
    cfg: RunConfig, model_config: PretrainedConfig, head: str, quantization=None
) -> tuple[torch.nn.Module, object]:
    """(model, tokenizer) as a run starts from them, before any adapter: seeded with ``cfg.seed``
    first, so a built-in random model is the same weights every time; with ``quantization`` (a
    method's ``BitsAndBytesConfig``), its base in 4 bits."""
    set_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.model, cfg.trust_remote_code)
    model = load_model(cfg.model, model_config, tokenizer, head, cfg.trust_remote_code, quantization)
    return model, tokenizer


def run_training(
    cfg: RunConfig,
    out: Path | RunFolder,
    resume: bool = False,
    callbacks: list[TrainerCallback] | None = None,
    checked: Preflight | None = None,
    base_cache: Path | None = None,
) -> RunResults:
    """Train and evaluate per ``cfg`` into ``out``.

    Args:
        cfg: the resolved run config; ``cfg.method`` and ``cfg.task`` are looked up in the registries.
        out: the run folder (refused if it holds a finished run, or checkpoints without ``resume``).
        resume: continue from the newest complete checkpoint in ``out``.
        callbacks: extra Trainer callbacks (tuning's pruning reports, time limits).
        checked: a ``preflight(cfg)`` already done, so nothing is loaded twice.
        base_cache: with ``drift.enabled``, a folder of base-model snapshots shared by runs of the
            same model and probe set; the snapshot is read from it, or added to it.

    Returns:
        The ``results.json`` record: metrics, parameters, time, memory and the environment.
    """
    folder = out if isinstance(out, RunFolder) else RunFolder(out)
    checked = checked or preflight(cfg)
    if not folder.is_ours():
        what = "a file" if folder.path.is_file() else "not empty and not a run folder (no environment.json)"
        raise LorascopeError(f"--out {folder.path}: {what}; nothing was changed there, choose another folder")
    with folder.lock("lorascope train"):
        return _train(cfg, folder, checked, resume, callbacks, base_cache)


def _train(
    cfg: RunConfig,
    folder: RunFolder,
    checked: Preflight,
    resume: bool,
    callbacks: list[TrainerCallback] | None,
    base_cache: Path | None,
) -> RunResults:
    resume_from = _check_out_dir(folder, cfg, resume)
    spec = method_spec(cfg.method)
    precision = "fp32" if spec.kind == "baseline" else choose_precision(cfg.train.precision)
    env = environment(cfg.seed, precision)
    folder.write_environment(env)  # first: it marks the folder as a run's
    folder.write_config(cfg)
    if spec.kind == "baseline":
        return _run_baseline(cfg, folder, checked, env)
    if resume_from:
        truncate_log(folder.train_log, int(Path(resume_from).name.split("-")[-1]))
    else:
        folder.train_log.unlink(missing_ok=True)
    trainer, tokenizer, eval_set, snapshots = _trainer(
        cfg, folder, checked, precision, resume_from, callbacks, base_cache
    )
    reset_peak_memory()
    trainer.train(resume_from_checkpoint=resume_from)
    if snapshots is not None:
        snapshots.take(trainer.model, None)
    return _finish(cfg, folder, checked, env, trainer, tokenizer, eval_set, resume_from)


def _trainer(
    cfg: RunConfig,
    folder: RunFolder,
    checked: Preflight,
    precision: str,
    resume_from: str | None,
    callbacks: list[TrainerCallback] | None,
    base_cache: Path | None,
) -> tuple[LorascopeTrainer, object, object, DriftSnapshots | None]:
    """The Trainer of a run: the starting model wrapped by its method, the callbacks, the encoded data,
    and the drift snapshots when ``drift.enabled``."""
    hooks = method_spec(cfg.method).behaviour()
    task, data = checked.data.task, checked.data
    ranks = _rank_config(cfg, folder, checked)
    model, tokenizer = starting_model(cfg, checked.model_config, task.head, checked.quantization)
    max_length = cfg.train.max_length
    train_set = task.for_training(task.encode(data.train, tokenizer, max_length), max_length)
    eval_set = task.encode(data.eval, tokenizer, max_length)
    context = MethodContext(cfg, task.head, checked.lora_targets, checked.unfreeze_modules, ranks, len(train_set))
    model, method_callbacks = hooks.prepare(model, context)
    if _frozen_half(cfg, checked, precision):
        store_frozen_linears(model, torch.bfloat16 if precision == "bf16" else torch.float16)
    extra: list[TrainerCallback] = [JsonlLog(folder.train_log), FiniteLoss(), TrainClock(), *method_callbacks]
    scheduled = {}
    if checked.unfreeze_modules:
        scheduled = scheduled_parameters(model, checked.unfreeze_modules)
        unfreeze = ScheduledUnfreeze(scheduled, cfg.unfreeze.after_epochs)
        unfreeze.freeze_until_due()
        extra.append(unfreeze)
    if cfg.train.early_stopping_patience:
        extra.append(EarlyStoppingCallback(cfg.train.early_stopping_patience))

    trainer = LorascopeTrainer(
        model=model,
        args=_training_arguments(cfg, folder.checkpoints, precision, task),
        train_dataset=train_set,
        eval_dataset=eval_set,
        data_collator=task.collator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=selection_metrics(task, eval_set),
        preprocess_logits_for_metrics=task.reduce_logits,
        callbacks=extra + list(callbacks or []),
        lora_penalty=hooks.lora_penalty(cfg),
        scheduled_params=tuple(scheduled.values()),
        lm_loss=SupervisedLogitsLoss(precision) if cfg.speed.fused_loss and task.head == "causal-lm" else None,
        # padding-free batches have no padding to save
        length_groups=cfg.speed.group_batches if cfg.speed.group_by_length and not task.padding_free else 0,
        # losses that are means over examples only (not QA's mean over answerable windows, nor a causal
        # LM's over tokens, whose batches are padding-free anyway)
        slice_overhead=slice_overhead(checked.model_config)
        if cfg.speed.slice_batches and task.head == "sequence-classification"
        else 0,
    )
    trainer.pop_callback(ProgressCallback)  # its nested bars and echoed logs: ours is one line
    trainer.add_callback(RunProgress())
    snapshots = None
    if cfg.drift.enabled:
        drift = cfg.drift
        batches = probe_batches(cfg, data, tokenizer)
        snapshots = DriftSnapshots(folder.drift, batches, drift.pooling, drift.every_steps, drift.max_tokens)
        if not resume_from:  # the model as it starts is the base: LoRA's ΔW is 0 here
            key = base_key(cfg, data, describe(checked.quantization))
            snapshots.take_base(trainer.model, key, BaseCache(base_cache) if base_cache else None)
        trainer.add_callback(snapshots)
    return trainer, tokenizer, eval_set, snapshots


def _frozen_half(cfg: RunConfig, checked: Preflight, precision: str) -> bool:
    """Whether the frozen base's linear weights are stored in the half dtype (``speed.frozen_half``):
    adapter methods under autocast, not over a 4-bit base, not with float32 drift snapshots."""
    return (
        cfg.speed.frozen_half
        and precision in ("bf16", "fp16")
        and method_spec(cfg.method).kind == "adapter"
        and checked.quantization is None
        and not cfg.drift.enabled
    )


def _state_bytes(optimizer) -> int:
    """Bytes of the optimizer's state tensors (AdamW: two moments per trainable parameter)."""
    states = getattr(optimizer, "state", {}) if optimizer is not None else {}
    return sum(t.nbytes for state in states.values() for t in state.values() if isinstance(t, torch.Tensor))


def _write_quantization(folder: RunFolder, model: torch.nn.Module) -> dict[str, object] | None:
    """For a 4-bit base: ``quantization.csv`` and ``.png`` (each layer's relative error), and the
    summary ``results.json`` keeps (with ``bytes``, the 4-bit layers' size)."""
    errors = getattr(model, "quantization_errors", None)
    if not errors:
        return None
    import matplotlib.pyplot as plt  # the file backend: lorascope.plotting sets it on import

    from lorascope.models.quantization import quantized_bytes, settings

    rows = [{"layer": e.name, "out": e.shape[0], "in": e.shape[1], "relative_error": e.relative_error} for e in errors]
    write_csv(folder.output("quantization.csv"), rows)
    values = np.array([e.relative_error for e in errors])
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(errors) + 1.2))
    ax.barh(range(len(errors)), values, color="#4c72b0")
    ax.set_yticks(range(len(errors)), [e.name for e in errors], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("relative error ‖W − deq(q(W))‖_F / ‖W‖_F")
    ax.set_title(f"4-bit quantization error per layer ({settings(model)['quant_type']})")
    save_figure(fig, folder.output("quantization.png"), pdf=False)
    summary = {
        "layers": len(errors),
        "mean_relative_error": float(values.mean()),
        "max_relative_error": float(values.max()),
    }
    return settings(model) | summary | {"bytes": quantized_bytes(model)}


def _finish(
    cfg: RunConfig,
    folder: RunFolder,
    checked: Preflight,
    env: Environment,
    trainer: LorascopeTrainer,
    tokenizer: object,
    eval_set: object,
    resume_from: str | None,
) -> RunResults:
    """Evaluate the trained model, save its artifact and write ``results.json`` (the run is done from then on)."""
    spec = method_spec(cfg.method)
    hooks = spec.behaviour()
    task, data = checked.data.task, checked.data
    clock = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, TrainClock))  # restored on resume
    trainer.compute_metrics = None  # it scores the eval set during training; the task scores every set now
    if checked.use_cache is not None:  # generation and the saved config want the model's own back
        trainer.model.config.use_cache = checked.use_cache
    predictor = Predictor(
        lambda dataset: trainer.predict(dataset).predictions,
        trainer.model,
        cfg.train.eval_batch_size,
        env.precision,
    )
    evaluation = task.evaluate(predictor, data, eval_set, tokenizer, cfg.train.max_length)
    _write_evaluation(folder, data.eval, evaluation)

    artifact = folder / (spec.artifact or "model")
    if cfg.train.save_model:
        trainer.model.save_pretrained(artifact, safe_serialization=True)
        tokenizer.save_pretrained(artifact)  # type: ignore[attr-defined]
    trainable, total = count_parameters(trainer.model)
    memory = memory_bytes(trainer.model) | {"optimizer_state": _state_bytes(trainer.optimizer)}
    quantization = _write_quantization(folder, trainer.model)
    if quantization is not None:
        memory["quantized_base"] = int(quantization.pop("bytes"))
    best = trainer.state.best_model_checkpoint
    results = _results(
        cfg,
        checked,
        env,
        evaluation.metrics,
        best_checkpoint=Path(best).name if best else None,
        trainable_params=trainable,
        total_params=total,
        lora_params=hooks.adapter_parameters(trainer.model),
        rank_strategy=hooks.rank_strategy(cfg),
        steps=trainer.state.global_step,
        epochs=trainer.state.epoch,
        train_seconds=round(clock.seconds(), 3),
        peak_memory_mb=round(peak_memory_mb(), 1),
        artifact=artifact.name if cfg.train.save_model else None,
        resumed_from=Path(resume_from).name if resume_from else None,
        task_settings=evaluation.settings,
        memory_bytes=memory,
        quantization=quantization,
    )
    folder.write_results(results)  # the run counts as done from here on
    if not cfg.train.keep_checkpoints:
        shutil.rmtree(folder.checkpoints, ignore_errors=True)
    return results
