import pytest
import torch

from lorascope.config import parse_config
from lorascope.training import environment, run_training
from lorascope.training.environment import choose_precision, library_versions
from tests.conftest import tiny_run_config


@pytest.mark.parametrize(
    ("cuda", "bf16", "cpu_bf16", "requested", "expected"),
    [
        (False, False, True, "auto", "bf16"),  # a CPU with native bf16: autocast
        (False, False, False, "auto", "fp32"),  # without it, fp32
        (True, True, False, "auto", "bf16"),
        (True, False, False, "auto", "fp16"),
        (False, False, False, "bf16", "fp32"),  # no native bf16 on this CPU
        (False, False, True, "bf16", "bf16"),  # AVX-512 BF16 / AMX: CPU autocast
        (False, False, True, "fp16", "fp32"),
        (True, True, True, "fp32", "fp32"),
    ],
)
def test_precision_choice(monkeypatch, cuda, bf16, cpu_bf16, requested, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(environment, "cpu_bf16_supported", lambda: cpu_bf16)
    assert choose_precision(requested) == expected


PEAK_PROBE = """
import torch
from lorascope.training.environment import peak_memory_mb, reset_peak_memory
block = torch.ones(256 * 2**20 // 4)  # 256 MiB, touched: the peak now includes it
del block
reset_peak_memory()  # a new peak: the freed block no longer counts
before = peak_memory_mb()
block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
print(before, peak_memory_mb())
"""


def test_versions_and_cpu_peak_memory():
    """The peak is measured in a fresh process: in a long test session the allocator may serve a
    new block from memory it already holds, which the process's peak rightly does not count."""
    import subprocess
    import sys

    versions = library_versions()
    assert versions["torch"] == torch.__version__ and versions["lorascope"]
    done = subprocess.run([sys.executable, "-c", PEAK_PROBE], capture_output=True, text=True, check=True)
    before, after = map(float, done.stdout.split())
    assert after >= before + 60


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_run_uses_mixed_precision(tmp_path):
    results = run_training(parse_config(tiny_run_config()).resolved(), tmp_path)
    assert results.device.startswith("cuda")
    assert results.precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    assert 0 < results.peak_memory_mb < 2048
