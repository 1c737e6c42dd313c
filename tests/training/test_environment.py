import pytest
import torch

from lorascope.config import parse_config
from lorascope.training import run_training
from lorascope.training.environment import choose_precision, library_versions, peak_memory_mb, reset_peak_memory
from tests.conftest import tiny_run_config


@pytest.mark.parametrize(
    ("cuda", "bf16", "requested", "expected"),
    [
        (False, False, "auto", "fp32"),
        (True, True, "auto", "bf16"),
        (True, False, "auto", "fp16"),
        (False, False, "bf16", "fp32"),  # mixed precision needs a GPU here
        (True, True, "fp32", "fp32"),
    ],
)
def test_precision_choice(monkeypatch, cuda, bf16, requested, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert choose_precision(requested) == expected


def test_versions_and_cpu_peak_memory():
    versions = library_versions()
    assert versions["torch"] == torch.__version__ and versions["lorascope"]
    reset_peak_memory()
    before = peak_memory_mb()
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    assert peak_memory_mb() >= before + 60
    del block


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_run_uses_mixed_precision(tmp_path):
    results = run_training(parse_config(tiny_run_config()).resolved(), tmp_path)
    assert results["device"].startswith("cuda")
    assert results["precision"] == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    assert 0 < results["peak_memory_mb"] < 2048
