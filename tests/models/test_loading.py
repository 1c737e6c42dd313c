import pytest
import torch

from lorascope.errors import LorascopeError
from lorascope.models.loading import count_parameters, load_model, load_model_config, load_tokenizer


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2", "tiny-bert"])
def test_padding_does_not_change_predictions(name):
    """The pad token is wired into the model: padded batch logits equal one-by-one logits."""
    torch.manual_seed(0)
    tokenizer = load_tokenizer(name)
    model = load_model(name, load_model_config(name, num_labels=3), tokenizer).eval()
    texts = ["a short one", "a considerably longer sentence than the first"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        batched = model(**batch).logits
        single = torch.cat([model(**tokenizer([t], return_tensors="pt")).logits for t in texts])
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum()
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-4)
    assert model.config.pad_token_id == tokenizer.pad_token_id


def test_local_folder_loads_like_a_hub_model(tmp_path):
    tokenizer = load_tokenizer("tiny-bert")
    model = load_model("tiny-bert", load_model_config("tiny-bert", 2), tokenizer)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    again = load_model(str(tmp_path), load_model_config(str(tmp_path), 2), load_tokenizer(str(tmp_path)))
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert count_parameters(again) == count_parameters(model)


def test_decoder_without_pad_token_gets_eos(tmp_path):
    """As GPT-2 and Llama checkpoints ship: no pad token in the tokenizer or the config."""
    tokenizer = load_tokenizer("tiny-gpt2")
    tokenizer.pad_token = None
    tokenizer.save_pretrained(tmp_path)
    config = load_model_config("tiny-gpt2", 2)
    config.pad_token_id = None
    load_model("tiny-gpt2", config, load_tokenizer("tiny-gpt2")).save_pretrained(tmp_path)
    loaded = load_tokenizer(str(tmp_path))
    assert loaded.pad_token == loaded.eos_token
    model = load_model(str(tmp_path), load_model_config(str(tmp_path), 2), loaded).eval()
    assert model.config.pad_token_id == loaded.eos_token_id
    texts = ["short", "a much longer text than that"]
    with torch.no_grad():
        batched = model(**loaded(texts, padding=True, return_tensors="pt")).logits
        single = torch.cat([model(**loaded([t], return_tensors="pt")).logits for t in texts])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-4)


def test_missing_folder_and_unreachable_hub_are_one_line_errors(tmp_path):
    with pytest.raises(LorascopeError, match="model: folder not found"):
        load_model_config(str(tmp_path / "nowhere"), 2)
    with pytest.raises(LorascopeError, match="has no config.json"):
        load_model_config(str(tmp_path), 2)
    with pytest.raises(LorascopeError) as info:
        load_model_config("no-such-org/no-such-model", 2)
    assert "HF_HUB_OFFLINE is set" in str(info.value) and "\n" not in str(info.value)


def test_checkpoint_dtype_and_head_size_do_not_leak_into_training(tmp_path):
    tokenizer = load_tokenizer("tiny-bert")
    model = load_model("tiny-bert", load_model_config("tiny-bert", 3), tokenizer).to(torch.bfloat16)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    names = ("neg", "pos")
    config = load_model_config(str(tmp_path), 2, names)
    loaded = load_model(str(tmp_path), config, load_tokenizer(str(tmp_path)))
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}  # fp32 master weights
    assert loaded.classifier.out_features == 2 and loaded.config.id2label == {0: "neg", 1: "pos"}
    torch.testing.assert_close(  # the body keeps its pretrained weights
        loaded.bert.embeddings.word_embeddings.weight, model.bert.embeddings.word_embeddings.weight.float()
    )


def test_a_broken_local_folder_is_named_as_such_not_as_an_unreachable_hub(tmp_path):
    tokenizer = load_tokenizer("tiny-bert")
    model = load_model("tiny-bert", load_model_config("tiny-bert", 2), tokenizer)
    model.config.save_pretrained(tmp_path / "no-weights")  # a config, but no weights
    tokenizer.save_pretrained(tmp_path / "no-weights")
    folder = str(tmp_path / "no-weights")
    with pytest.raises(LorascopeError, match=r"model: folder .*no-weights cannot be loaded: .*model\.safetensors"):
        load_model(folder, load_model_config(folder, 2), load_tokenizer(folder))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model_type": "bert", ')
    with pytest.raises(LorascopeError, match=r"model: folder .*broken cannot be loaded: .*not a valid JSON file"):
        load_model_config(str(tmp_path / "broken"), 2)


def test_trust_remote_code_says_so_before_any_code_runs(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"model_type": "bert", ')
    with pytest.raises(LorascopeError):
        load_model_config(str(tmp_path), 2, trust_remote_code=True)
    assert "note: trust_remote_code is true: Python code that comes with" in capsys.readouterr().err
    load_model_config("tiny-bert", 2)
    assert capsys.readouterr().err == ""  # off by default, and silent
