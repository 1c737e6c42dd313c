"""Seeds, device, precision and the environment record that every run writes."""

from __future__ import annotations

import contextlib
import platform
import resource
import sys
from importlib import metadata
from pathlib import Path

import torch

from lorascope import __version__
from lorascope.records import Environment

LIBRARIES = (
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "tokenizers",
    "safetensors",
    "numpy",
    "scipy",
    "pydantic",
    "bitsandbytes",
)


def cpu_bf16_supported() -> bool:
    """Whether this processor computes bf16 natively (AVX-512 BF16 or AMX), so CPU autocast pays."""
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(check and check())


def choose_precision(requested: str) -> str:
    """``auto`` → bf16 on GPUs that support it, fp16 on other GPUs; on a CPU bf16 autocast where the
    processor computes bf16 natively (AVX-512 BF16, AMX), fp32 elsewhere. An explicit ``bf16`` on a
    CPU without native bf16 falls back to fp32; the environment record says which ran."""
    if not torch.cuda.is_available():
        if requested in ("auto", "bf16"):
            return "bf16" if cpu_bf16_supported() else "fp32"
        return "fp32"  # fp16 autocast needs a GPU here
    if requested != "auto":
        return requested
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def device_name() -> str:
    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.current_device()} ({torch.cuda.get_device_name()})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def library_versions() -> dict[str, str]:
    versions = {"lorascope": __version__, "python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def environment(seed: int, precision: str) -> Environment:
    """What a run or benchmark runs on: seed, device, precision, platform and library versions."""
    return Environment(
        seed=seed, device=device_name(), precision=precision, platform=platform.platform(), versions=library_versions()
    )


PROC_STATUS = Path("/proc/self/status")


def reset_peak_memory() -> None:
    """Start a new peak: CUDA's counter, or on Linux the process's high-water mark (clear_refs 5)."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        return
    with contextlib.suppress(OSError):  # not Linux, or not allowed: the peak covers the whole process
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb() -> float:
    """Peak CUDA memory allocated by tensors, or the process's peak resident set size on CPU."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    try:
        for line in PROC_STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
