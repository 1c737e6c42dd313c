"""QLoRA against LoRA (its frozen base in bf16 under autocast: speed.frozen_half), side by side in one invocation: a TinyLlama-1.1B-shaped
Llama (random weights, made by bench/make_tinyllama.py's recipe) trained by lorascope on the
generated instruction task with LoRA r=64 on every linear layer. Prints peak memory, tokens/s and
the ratio of the two, as a Markdown table for docs/benchmarks.md.

    python bench/qlora_memory.py [--steps 30] [--batch 8] [--length 512] [--out bench/results/qlora_memory]
    python bench/qlora_memory.py --tiny     # the same on a 2-layer model, for a CPU (a smoke test)
"""

from __future__ import annotations

import argparse
import platform
from datetime import date
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from lorascope.config import parse_config
from lorascope.models.tiny import byte_tokenizer, tinyllama_1b_config
from lorascope.training import run_training

LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # QLoRA's default: all


def make_base(folder: Path, tiny: bool) -> Path:
    """The random base, saved once (bf16 weights; lorascope loads them as its methods do)."""
    if (folder / "config.json").is_file():
        return folder
    tokenizer = byte_tokenizer(encoder=False)
    shape = {"num_hidden_layers": 2, "hidden_size": 256, "intermediate_size": 704} if tiny else {}
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    config = tinyllama_1b_config(pad_token_id=tokenizer.pad_token_id, **ids, **shape)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def measure(base: Path, method: str, steps: int, batch: int, length: int, out: Path) -> dict[str, float]:
    """One lorascope run of ``method``; its peak memory, train time and tokens per second."""
    raw = {
        "model": str(base),
        "task": "synthetic_instruction",
        "method": method,
        "seed": 0,
        "data": {"synthetic_size": steps * batch},
        "lora": {"r": 64, "alpha": 16, "dropout": 0.05, "target_modules": LINEAR},
        "instruction": {
            "template": "{instruction} {input} => {response}",
            "packing": True,
            "generate": 0,
            "bootstrap": 100,
        },
        "train": {
            "max_steps": steps,
            "batch_size": batch,
            "max_length": length,
            "eval_strategy": "steps",
            "eval_steps": steps,
            "save_model": False,
        },
    }
    results = run_training(parse_config(raw).resolved(), out / method)
    tokens = steps * batch * length  # packed batches are full
    return {
        "peak_mb": results.peak_memory_mb or float("nan"),
        "seconds": results.train_seconds,
        "tokens_s": tokens / results.train_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model of the same width ratios, for a CPU")
    parser.add_argument("--out", type=Path, default=Path("bench/results/qlora_memory"))
    args = parser.parse_args()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({platform.machine()})"
    base = make_base(args.out / ("base-tiny" if args.tiny else "base"), args.tiny)
    rows = {m: measure(base, m, args.steps, args.batch, args.length, args.out) for m in ("lora", "qlora")}
    print(
        f"{device}, {date.today()}, torch {torch.__version__}, {args.steps} steps × {args.batch} × {args.length} tokens"
    )
    print("| method | peak memory (MB) | tokens/s | train s |")
    print("| --- | --- | --- | --- |")
    for method, row in rows.items():
        print(f"| {method} | {row['peak_mb']:.0f} | {row['tokens_s']:.0f} | {row['seconds']:.1f} |")
    ratio = rows["qlora"]["peak_mb"] / rows["lora"]["peak_mb"]
    print(
        f"qlora / lora: peak memory {ratio:.2f}×, tokens/s {rows['qlora']['tokens_s'] / rows['lora']['tokens_s']:.2f}×"
    )


if __name__ == "__main__":
    main()
