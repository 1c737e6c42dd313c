"""Time of the ΔW analysis for the linear layers of a TinyLlama-1.1B-shaped model: randomized
SVD (the default) vs exact float64 SVD, with the energy error and r_raw agreement.

ΔW per layer is a synthetic fine-tuning update: a decaying low-rank part (σ_i = e^(−i/12), 64
directions) plus dense Gaussian noise (``--noise``, default 1e-4), drawn on the device. Nothing is
downloaded.

    python bench/delta_svd.py [--layers 22] [--device cuda] [--energy 0.9] [--noise 1e-4]
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import date

import numpy as np
import torch

from lorascope.ranks.analysis import analyze_layers

HIDDEN, INTERMEDIATE, KV = 2048, 5632, 256  # TinyLlama-1.1B: 32 heads of 64, 4 key-value heads
SHAPES = {
    "self_attn.q_proj": (HIDDEN, HIDDEN),
    "self_attn.k_proj": (KV, HIDDEN),
    "self_attn.v_proj": (KV, HIDDEN),
    "self_attn.o_proj": (HIDDEN, HIDDEN),
    "mlp.gate_proj": (INTERMEDIATE, HIDDEN),
    "mlp.up_proj": (INTERMEDIATE, HIDDEN),
    "mlp.down_proj": (HIDDEN, INTERMEDIATE),
}


def synthetic_delta(shape: tuple[int, int], seed: int, device: str, noise: float) -> torch.Tensor:
    generator = torch.Generator(device=device).manual_seed(seed)
    out_f, in_f = shape
    k = 64
    u, _ = torch.linalg.qr(torch.randn(out_f, k, device=device, generator=generator))
    v, _ = torch.linalg.qr(torch.randn(in_f, k, device=device, generator=generator))
    sigma = torch.exp(-torch.arange(k, device=device, dtype=torch.float32) / 12)
    return (u * sigma) @ v.T + noise * torch.randn(out_f, in_f, device=device, generator=generator)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=22, help="decoder layers (TinyLlama has 22)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--energy", type=float, default=0.9)
    parser.add_argument("--noise", type=float, default=1e-4, help="std of the dense noise added to each ΔW")
    args = parser.parse_args()
    names = [f"model.layers.{i}.{kind}" for i in range(args.layers) for kind in SHAPES]
    deltas = {n: synthetic_delta(SHAPES[n.split(".", 3)[3]], i, args.device, args.noise) for i, n in enumerate(names)}
    zero = {n: torch.zeros((), device=args.device) for n in names}

    def load(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        return zero[name].expand_as(deltas[name]), deltas[name]

    timings, spectra = {}, {}
    for method in ("randomized", "exact"):
        analyze_layers(names[:1], load, args.energy, method, "layer", args.device)  # warm-up
        if args.device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        spectra[method] = analyze_layers(names, load, args.energy, method, "layer", args.device)
        if args.device == "cuda":
            torch.cuda.synchronize()
        timings[method] = time.perf_counter() - started
    fast, exact = spectra["randomized"], spectra["exact"]
    energy_error = max(abs(fast[n].energy_retained - exact[n].energy_retained) for n in names)
    same_rank = sum(fast[n].r_raw == exact[n].r_raw for n in names)
    top_error = max(
        float(np.max(np.abs(np.array(fast[n].singular_values[:16]) / np.array(exact[n].singular_values[:16]) - 1)))
        for n in names
    )
    device = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or platform.machine()
    print(
        f"{date.today()} · {device} · torch {torch.__version__} · {len(names)} layers · energy {args.energy} · noise {args.noise}"
    )
    print("| method | seconds | per layer |")
    print("|---|---|---|")
    for method, seconds in timings.items():
        print(f"| {method} | {seconds:.2f} | {1000 * seconds / len(names):.1f} ms |")
    print(f"exact / randomized: {timings['exact'] / timings['randomized']:.1f}×")
    print(
        f"largest |energy_retained difference|: {energy_error:.2e}; r_raw identical in {same_rank}/{len(names)} layers"
    )
    print(f"largest relative error of the top-16 singular values: {top_error:.2e}")


if __name__ == "__main__":
    main()
