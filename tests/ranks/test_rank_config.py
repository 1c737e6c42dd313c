import json

import pytest
import torch
from transformers import AutoModelForCausalLM

import lorascope
from lorascope.errors import LorascopeError
from lorascope.models.tiny import tiny_config_and_tokenizer
from lorascope.ranks.rank_config import SCHEMA_VERSION, read_rank_config


def tiny_llama():
    config, _ = tiny_config_and_tokenizer("tiny-llama")
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config)


def write_config(path, layers):
    payload = {"schema_version": SCHEMA_VERSION, "strategy": "test", "layers": layers}
    path.write_text(json.dumps(payload))
    return path


def planned_layers(model):
    """Different r and alpha per layer: q_proj rank grows with depth, v_proj shrinks."""
    depth = model.config.num_hidden_layers
    layers = {}
    for i in range(depth):
        layers[f"model.layers.{i}.self_attn.q_proj"] = {"r": 2 + 2 * i, "alpha": 4.0 + 4 * i}
        layers[f"model.layers.{i}.self_attn.v_proj"] = {"r": 2 * (depth - i), "alpha": 8.0}
    return layers


def test_the_peft_model_has_exactly_the_configured_shapes_and_trains(tmp_path):
    model = tiny_llama()
    layers = planned_layers(model)
    path = write_config(tmp_path / "lora_rank_config.json", layers)
    peft_model = lorascope.create_peft_model_from_config(model, path)
    adapted = {}
    for name, module in peft_model.named_modules():
        if hasattr(module, "lora_A") and "default" in module.lora_A:
            adapted[name.removeprefix("base_model.model.")] = module
    assert set(adapted) == set(layers)
    for name, module in adapted.items():
        r = layers[name]["r"]
        a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
        assert a.shape == (r, module.in_features) and b.shape == (module.out_features, r)
        assert module.scaling["default"] == pytest.approx(layers[name]["alpha"] / r)
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    ids = torch.randint(0, model.config.vocab_size, (2, 12))
    loss = peft_model(input_ids=ids, labels=ids).loss
    loss.backward()
    grads = {n: p.grad for n, p in peft_model.named_parameters() if p.requires_grad}
    assert len(grads) == 2 * len(layers) and all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert all(g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)  # B starts at zero, so A's grads are 0


def test_a_config_that_does_not_fit_the_model_is_rejected(tmp_path):
    model = tiny_llama()
    layers = planned_layers(model)
    missing = write_config(tmp_path / "a.json", layers | {"model.layers.99.self_attn.q_proj": {"r": 4, "alpha": 8}})
    with pytest.raises(LorascopeError, match=r"a\.json: layer 'model\.layers\.99\.self_attn\.q_proj' does not exist"):
        lorascope.create_peft_model_from_config(model, missing)
    not_linear = write_config(tmp_path / "b.json", {"model.layers.0.self_attn": {"r": 4, "alpha": 8}})
    with pytest.raises(LorascopeError, match="is a LlamaAttention, not a linear layer"):
        lorascope.create_peft_model_from_config(model, not_linear)
    ok = write_config(tmp_path / "c.json", layers)
    with pytest.raises(LorascopeError, match=r"target layer 'model\.layers\.0\.self_attn\.k_proj' has no entry"):
        lorascope.create_peft_model_from_config(model, ok, target_modules=["q_proj", "k_proj"])


def test_bad_rank_config_files_name_file_and_key(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": 2, "strategy": "x", "layers": {"l": {"r": 0, "alpha": 1}}}))
    with pytest.raises(LorascopeError) as info:
        read_rank_config(bad)
    assert f"{bad}: schema_version: Input should be 1" in str(info.value)
    assert f"{bad}: layers.l.r: Input should be greater than 0" in str(info.value)
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1,\n "layers": }')
    with pytest.raises(LorascopeError, match=r"broken\.json line 2: invalid JSON"):
        read_rank_config(broken)
    with pytest.raises(LorascopeError, match="rank config not found"):
        read_rank_config(tmp_path / "none.json")
