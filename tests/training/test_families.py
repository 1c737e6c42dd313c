"""Every supported model family trains end to end from a local folder (tiny random configs)."""

import json

import pytest
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    DistilBertConfig,
    GPT2Config,
    LlamaConfig,
    RobertaConfig,
)

from lorascope.config import parse_config
from lorascope.models.tiny import byte_tokenizer
from lorascope.training import run_training

VOCAB = len(byte_tokenizer(encoder=True))
FAMILIES = {
    "bert": (
        BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64),
        True,
    ),
    "roberta": (
        RobertaConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=514,
            type_vocab_size=2,
            pad_token_id=0,
        ),
        True,
    ),
    "distilbert": (
        DistilBertConfig(vocab_size=VOCAB, dim=32, n_layers=1, n_heads=2, hidden_dim=64, pad_token_id=0),
        True,
    ),
    "llama": (
        LlamaConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64),
        False,
    ),
    "gpt2": (GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=1, n_head=2), False),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task", ["mrpc", "stsb"])
def test_family_trains_from_a_local_folder(tmp_path, family, task):
    config, encoder = FAMILIES[family]
    folder = tmp_path / family
    AutoModelForSequenceClassification.from_config(config).save_pretrained(folder)
    tokenizer = byte_tokenizer(encoder)
    if not encoder:
        tokenizer.pad_token = None  # as Llama and GPT-2 checkpoints ship
    tokenizer.save_pretrained(folder)
    rows = [
        {"sentence1": f"s {i}", "sentence2": "x" * (1 + i % 7), "label": i % 2 if task == "mrpc" else i % 5 / 1.0}
        for i in range(24)
    ]
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    raw = {
        "model": str(folder),
        "task": task,
        "method": "lora",
        "seed": 0,
        "data": {"train_file": str(data), "eval_file": str(data)},
        "train": {"max_steps": 2, "batch_size": 8},
    }
    results = run_training(parse_config(raw).resolved(), tmp_path / "run")
    assert results.steps == 2 and results.eval_examples == 24
    assert all(v is None or -1 <= v <= 1 for v in results.metrics.values())
    assert results.lora_targets
