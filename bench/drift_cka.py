"""Time of the drift analysis for a TinyLlama-1.1B-shaped model: linear CKA of every layer's
probe-set representation with the base's, for every checkpoint.

Snapshots are synthetic and stored as lorascope stores them (float16, on the CPU): 22 layers plus
the embeddings, width 2048, 4,096 probe tokens (``drift.pooling: tokens``), the base and
``--checkpoints`` fine-tuned snapshots whose drift grows with the step. Two timings:

- *linear CKA*: ``linear_cka(base, checkpoint)`` for every layer and checkpoint;
- *drift rows*: ``lorascope.analysis.drift.drift_rows``, what ``lorascope drift`` computes per run
  (linear CKA and the centred cosine per example).

One CKA is checked against numpy float64. Nothing is downloaded.

    python bench/drift_cka.py [--layers 22] [--width 2048] [--tokens 4096] [--checkpoints 10] [--device cuda]
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date

import numpy as np
import torch

from lorascope.analysis.drift import drift_rows
from lorascope.analysis.similarity import linear_cka


def numpy_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Gram-space linear CKA in numpy float64: HSIC with the centring matrix H."""
    n = x.shape[0]
    h = np.eye(n) - 1.0 / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float((k * l_).sum() / np.sqrt((k * k).sum() * (l_ * l_).sum()))


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=22, help="decoder layers (TinyLlama has 22); +1 for embeddings")
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--tokens", type=int, default=4096, help="probe tokens")
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    layers = range(args.layers + 1)
    base = {i: torch.randn(args.tokens, args.width, generator=generator) for i in layers}
    snapshots: dict[int | None, dict[int, torch.Tensor]] = {0: {i: h.half() for i, h in base.items()}}
    for c in range(1, args.checkpoints + 1):
        scale = 0.05 * c
        snapshots[100 * c] = {
            i: (h + scale * (1 + i / args.layers) * torch.randn(h.shape, generator=generator)).half()
            for i, h in base.items()
        }
    steps = [s for s in snapshots if s != 0]

    linear_cka(snapshots[0][0][:64], snapshots[steps[0]][0][:64], device=args.device)  # warm-up
    synchronize(args.device)
    started = time.perf_counter()
    values = [linear_cka(snapshots[0][i], snapshots[s][i], device=args.device) for s in steps for i in layers]
    synchronize(args.device)
    cka_seconds = time.perf_counter() - started

    started = time.perf_counter()
    rows = drift_rows({"run": "bench"}, {step: snapshots[step] for step in [0, *steps]})
    synchronize(args.device)
    rows_seconds = time.perf_counter() - started

    x, y = snapshots[0][args.layers][:1024].double().numpy(), snapshots[steps[-1]][args.layers][:1024].double().numpy()
    error = abs(linear_cka(x, y, device=args.device) - numpy_cka(x, y))
    count = len(values)
    device = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or platform.machine()
    print(
        f"{date.today()} · {device} · torch {torch.__version__} · {args.layers} layers + embeddings · "
        f"width {args.width} · {args.tokens} tokens · {args.checkpoints} checkpoints"
    )
    print("| what | CKAs | seconds | per CKA |")
    print("| --- | --- | --- | --- |")
    print(f"| linear CKA | {count} | {cka_seconds:.2f} | {1000 * cka_seconds / count:.1f} ms |")
    with_base = count + len(layers)  # drift_rows also compares the base with itself (drift 0 at step 0)
    print(
        f"| drift rows (CKA + cosine) | {with_base} | {rows_seconds:.2f} | {1000 * rows_seconds / with_base:.1f} ms |"
    )
    print(f"CKA {min(values):.3f}–{max(values):.3f}, so drift = 1 − CKA {1 - max(values):.3f}–{1 - min(values):.3f}")
    print(f"|CKA − numpy float64| on {len(x):,} tokens: {error:.1e}; rows: {len(rows)}")


if __name__ == "__main__":
    main()
