"""Equal-budget comparison on the planted task: svd-energy ranks vs uniform LoRA, over energy
shares, both scopes and several seeds. Prints a Markdown table for docs/ranks.md.

    python bench/planted_ranks.py [--seeds 0 1 2] [--energies 0.9 0.7 0.5] [--out bench/results/planted_ranks.csv]
"""

from __future__ import annotations

import argparse
import csv
import platform
from datetime import date
from pathlib import Path

import numpy as np
import torch

from lorascope.ranks.planted import equal_budget_trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--energies", type=float, nargs="+", default=[0.9, 0.7, 0.5])
    parser.add_argument("--scopes", nargs="+", default=["global", "layer"])
    parser.add_argument("--budget-r", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench/results/planted_ranks.csv"))
    args = parser.parse_args()
    rows = []
    for scope in args.scopes:
        for energy in args.energies:
            for seed in args.seeds:
                trial = equal_budget_trial(seed, budget_r=args.budget_r, energy=energy, scope=scope)
                planted = {n: trial.ranks[n] for n in trial.plan}
                rows.append(
                    {"scope": scope, "energy": energy, "seed": seed}
                    | {f"loss_{k}": round(v, 5) for k, v in trial.eval_loss.items()}
                    | {f"params_{k}": v for k, v in trial.lora_params.items()}
                    | {"ranks_on_planted": " ".join(str(r) for r in planted.values())}
                )
                print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(
        f"\n{date.today()}, {platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print("| scope | energy | uniform KL | svd-energy KL | svd-energy better in | ranks on planted layers (seed 0) |")
    print("|---|---|---|---|---|---|")
    for scope in args.scopes:
        for energy in args.energies:
            group = [r for r in rows if r["scope"] == scope and r["energy"] == energy]
            uniform = np.array([r["loss_uniform"] for r in group])
            allocated = np.array([r["loss_svd-energy"] for r in group])
            print(
                f"| {scope} | {energy} | {uniform.mean():.4f} ± {uniform.std(ddof=1):.4f} | "
                f"{allocated.mean():.4f} ± {allocated.std(ddof=1):.4f} | {int((allocated < uniform).sum())}/{len(group)} | "
                f"{group[0]['ranks_on_planted']} |"
            )


if __name__ == "__main__":
    main()
