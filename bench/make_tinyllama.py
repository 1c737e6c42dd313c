"""Save a TinyLlama-1.1B-shaped Llama with random weights (bf16) and a byte-level tokenizer into a
folder, for serving and speed benchmarks where no pretrained decoder can be downloaded.

    python bench/make_tinyllama.py ./tinyllama-random
"""

from __future__ import annotations

import argparse

import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from lorascope.models.tiny import byte_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tokenizer = byte_tokenizer(encoder=False)
    config = LlamaConfig(
        vocab_size=32000,
        hidden_size=2048,
        intermediate_size=5632,
        num_hidden_layers=22,
        num_attention_heads=32,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(args.seed)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    print(f"{sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters → {args.out}")


if __name__ == "__main__":
    main()
