"""GPU-only performance checks for a TinyLlama-1.1B-shaped model with a rank config (skipped
without CUDA). The thresholds depend on the hardware: see tests/README.md."""

import json
import time

import pytest
import torch
from transformers import LlamaForCausalLM

import lorascope
from lorascope.models.tiny import tinyllama_1b_config

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

MEMORY_LIMIT_GIB = 2.5  # bf16 weights of 1.10 B parameters are 2.05 GiB; LoRA adds < 0.05 GiB
FORWARD_LIMIT_MS = 60.0  # one forward pass, batch 4 × 128 tokens, bf16


@pytest.fixture(scope="module")
def model_with_ranks(tmp_path_factory):
    """The model built on the GPU in bf16, wrapped from a rank config whose ranks vary by depth."""
    config = tinyllama_1b_config()
    layers = {}
    for i in range(config.num_hidden_layers):
        layers[f"model.layers.{i}.self_attn.q_proj"] = {"r": 4 + 4 * (i % 8), "alpha": 2.0 * (4 + 4 * (i % 8))}
        layers[f"model.layers.{i}.self_attn.v_proj"] = {"r": 8, "alpha": 16.0}
    path = tmp_path_factory.mktemp("ranks") / "lora_rank_config.json"
    path.write_text(json.dumps({"schema_version": 1, "strategy": "test", "layers": layers}))
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    with torch.device("cuda"):
        base = LlamaForCausalLM(config).to(torch.bfloat16)
    model = lorascope.create_peft_model_from_config(base, path).eval()
    return model, layers, torch.cuda.memory_allocated() - before


def test_memory_after_initialization_is_below_the_threshold(model_with_ranks):
    model, layers, allocated = model_with_ranks
    q0 = model.base_model.model.model.layers[0].self_attn.q_proj
    assert q0.lora_A["default"].weight.shape[0] == layers["model.layers.0.self_attn.q_proj"]["r"]
    print(f"measured: memory after initialization {allocated / 2**30:.3f} GiB (limit {MEMORY_LIMIT_GIB})")
    assert allocated / 2**30 < MEMORY_LIMIT_GIB, f"{allocated / 2**30:.2f} GiB allocated"


def test_a_small_batch_forward_pass_is_below_the_latency_threshold(model_with_ranks):
    model, _, _ = model_with_ranks
    inputs = torch.randint(0, 32000, (4, 128), device="cuda")
    with torch.no_grad():
        for _ in range(3):  # warm-up: kernels, allocator
            model(input_ids=inputs)
        torch.cuda.synchronize()
        times = []
        for _ in range(10):
            started = time.perf_counter()
            model(input_ids=inputs)
            torch.cuda.synchronize()
            times.append(1000 * (time.perf_counter() - started))
    median = sorted(times)[len(times) // 2]
    print(f"measured: median forward, batch 4 x 128, bf16: {median:.2f} ms (limit {FORWARD_LIMIT_MS})")
    assert median < FORWARD_LIMIT_MS, f"median forward {median:.1f} ms"
