import pytest
import torch
from transformers import AutoModelForSequenceClassification, DistilBertConfig

from lorascope.config import LoraConfig
from lorascope.errors import LorascopeError
from lorascope.methods.lora import apply_lora, lora_factors, resolve_targets
from lorascope.methods.penalty import lora_norm_squared
from lorascope.models.loading import load_model, load_model_config, load_tokenizer, skeleton


def tiny(name: str):
    return load_model(name, load_model_config(name, 2), load_tokenizer(name))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("tiny-bert", ["query", "value"]), ("tiny-llama", ["q_proj", "v_proj"]), ("tiny-gpt2", ["c_attn"])],
)
def test_family_default_targets(name, expected):
    assert resolve_targets(skeleton(load_model_config(name, 2)), LoraConfig()) == expected


def test_distilbert_default_targets():
    config = DistilBertConfig(vocab_size=50, dim=32, n_layers=1, n_heads=2, hidden_dim=64, num_labels=2)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    assert resolve_targets(model, LoraConfig()) == ["q_lin", "v_lin"]


def test_missing_target_lists_the_available_layers():
    with pytest.raises(LorascopeError) as info:
        resolve_targets(skeleton(load_model_config("tiny-bert", 2)), LoraConfig(target_modules=["q_proj"]))
    message = str(info.value)
    assert message.startswith("lora.target_modules: 'q_proj' matches no module")
    assert "query" in message and "value" in message


def test_only_adapters_and_head_train():
    model = apply_lora(
        tiny("tiny-bert"),
        LoraConfig(r=4, target_modules=["query", "value"]),
        ["query", "value"],
        "sequence-classification",
    )
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "classifier" in n for n in trainable)
    assert any("classifier" in n for n in trainable)
    assert len(lora_factors(model)) == 4  # 2 layers × (query, value)


@pytest.mark.parametrize("rslora", [False, True])
def test_scaling_follows_alpha_over_r_or_sqrt_r(rslora):
    model = apply_lora(
        tiny("tiny-bert"), LoraConfig(r=4, alpha=8, use_rslora=rslora), ["query"], "sequence-classification"
    )
    layer = next(m for n, m in model.named_modules() if n.endswith("query") and hasattr(m, "scaling"))
    assert layer.scaling["default"] == pytest.approx(8 / 2 if rslora else 8 / 4)


def test_penalty_equals_brute_force_float64_and_its_gradient():
    torch.manual_seed(0)
    model = apply_lora(tiny("tiny-llama"), LoraConfig(r=3), ["q_proj", "v_proj"], "sequence-classification")
    for _, _a, b in lora_factors(model):
        torch.nn.init.normal_(b)  # PEFT starts B at zero; make the norm non-trivial
    factors = lora_factors(model)
    expected = sum(
        float(torch.linalg.matrix_norm(b.detach().double() @ a.detach().double()) ** 2) for _, a, b in factors
    )
    value = lora_norm_squared(model)
    assert float(value) == pytest.approx(expected, rel=1e-5)
    value.backward()
    _, a, b = factors[0]
    a64, b64 = a.detach().double().requires_grad_(), b.detach().double().requires_grad_()
    (torch.linalg.matrix_norm(b64 @ a64) ** 2).backward()
    torch.testing.assert_close(a.grad.double(), a64.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(b.grad.double(), b64.grad, rtol=1e-4, atol=1e-5)


def test_unfreeze_names_resolve_to_full_module_names():
    from lorascope.methods.unfreeze import check_unfreeze_modules

    model = skeleton(load_model_config("tiny-bert", 2))
    assert check_unfreeze_modules(model, ["layer.1.output.dense"], ["query"]) == ["bert.encoder.layer.1.output.dense"]
    resolved = check_unfreeze_modules(model, ["output.dense"], ["query", "value"])  # dot boundaries only
    assert resolved == [f"bert.encoder.layer.{i}.{part}output.dense" for i in (0, 1) for part in ("attention.", "")]


def test_parameter_counts_skip_peft_frozen_originals():
    from lorascope.models.loading import count_parameters

    base = tiny("tiny-bert")
    _, total_base = count_parameters(base)
    head = sum(p.numel() for p in base.classifier.parameters())
    model = apply_lora(base, LoraConfig(r=2), ["query"], "sequence-classification")
    trainable, total = count_parameters(model)
    lora = sum(a.numel() + b.numel() for _, a, b in lora_factors(model))
    assert total == total_base + lora
    assert trainable == lora + head
