"""Save a TinyLlama-1.1B-shaped Llama with random weights (bf16) and a byte-level tokenizer into a
folder, for serving and speed benchmarks where no pretrained decoder can be downloaded; or, with
the shape options, a smaller one (e.g. for vLLM on a CPU, in float32: docs/serving.md).

    python bench/make_tinyllama.py ./tinyllama-random
    python bench/make_tinyllama.py ./small-llama --layers 2 --hidden 256 --heads 4 --intermediate 512 --dtype float32
"""

from __future__ import annotations

import argparse

import torch
from transformers import AutoModelForCausalLM

from lorascope.models.tiny import byte_tokenizer, tinyllama_1b_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", type=int, help="decoder layers (TinyLlama: 22)")
    parser.add_argument("--hidden", type=int, help="width (TinyLlama: 2048)")
    parser.add_argument("--heads", type=int, help="attention heads (TinyLlama: 32); head size = width / heads")
    parser.add_argument("--kv-heads", type=int, help="key-value heads (TinyLlama: 4; default here: --heads)")
    parser.add_argument("--intermediate", type=int, help="MLP width (TinyLlama: 5632)")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    args = parser.parse_args()
    tokenizer = byte_tokenizer(encoder=False)
    shape = {
        "num_hidden_layers": args.layers,
        "hidden_size": args.hidden,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads or args.heads,
        "intermediate_size": args.intermediate,
    }
    config = tinyllama_1b_config(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **{k: v for k, v in shape.items() if v is not None},
    )
    torch.manual_seed(args.seed)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, args.dtype))
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    head = config.hidden_size // config.num_attention_heads
    print(f"{sum(p.numel() for p in model.parameters()) / 1e9:.3f}B parameters, head size {head} → {args.out}")


if __name__ == "__main__":
    main()
