"""Save a TinyLlama-1.1B-shaped Llama with random weights (bf16) and a byte-level tokenizer into a
folder, for serving and speed benchmarks where no pretrained decoder can be downloaded.

    python bench/make_tinyllama.py ./tinyllama-random
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
    args = parser.parse_args()
    tokenizer = byte_tokenizer(encoder=False)
    config = tinyllama_1b_config(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    torch.manual_seed(args.seed)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    print(f"{sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters → {args.out}")


if __name__ == "__main__":
    main()
