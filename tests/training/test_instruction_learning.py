"""Real learning of instruction tuning (slow). Random decoders built from a config, with BPE
tokenizers trained offline like GPT-2's and Llama's (pad == EOS, the case where EOS is easily lost
from the labels), learn the generated task with a known answer to a stated exact-match rate under
greedy decoding, and stop with EOS; on the shared Alpaca 1k sample, the response perplexity of held-out
examples falls far below the untrained model's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

from lorascope.config import parse_config
from lorascope.data.instruction import perplexity_metrics, score_tokens
from lorascope.data.instruction_encoding import ALPACA_PROMPT, ALPACA_PROMPT_NO_INPUT
from lorascope.data.tasks import load_task_data
from lorascope.records import RunFolder
from lorascope.training.run import run_training
from tests.instruction_tokenizers import gpt2_like, llama_like

pytestmark = pytest.mark.slow

ALPACA = Path(__file__).resolve().parents[3] / "shared" / "data" / "alpaca"
TEMPLATE = "{instruction} {input} => {response}"
# GPT-2's learned absolute positions need twice the steps before reversing words generalises (at
# 1,000 steps it reversed 0.04–0.67 of held-out prompts depending on the initial weights). The
# rates stated in docs/tasks.md are set below what these seeds reached on 2026-12-02 (docs/benchmarks.md).
EPOCHS = {"llama": 8, "gpt2": 16}
EXACT_MATCH = {"llama": 0.6, "gpt2": 0.5}


def decoder_folder(folder: Path, family: str, tokenizer, positions: int) -> str:
    """A random 2-layer, width-128 Llama or GPT-2 with ``tokenizer`` (weights drawn with seed 0), saved
    as a model folder."""
    ids = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id}
    ids |= {"eos_token_id": tokenizer.eos_token_id, "vocab_size": len(tokenizer)}
    if family == "llama":
        config = LlamaConfig(
            hidden_size=128,
            intermediate_size=512,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=positions,
            **ids,
        )
    else:
        config = GPT2Config(n_embd=128, n_layer=2, n_head=4, n_positions=positions, **ids)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_a_random_decoder_learns_the_generated_task_and_stops_with_eos(tmp_path, family):
    tokenizer = llama_like() if family == "llama" else gpt2_like()
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    raw = {
        "model": decoder_folder(tmp_path / "model", family, tokenizer, positions=64),
        "task": "synthetic_instruction",
        "method": "full",
        "seed": 0,
        "data": {"synthetic_size": 4000},
        "instruction": {"template": TEMPLATE, "generate": 200, "max_new_tokens": 16, "bootstrap": 200},
        "train": {
            "epochs": EPOCHS[family],
            "batch_size": 32,
            "max_length": 48,
            "learning_rate": 3e-3,
            "warmup_ratio": 0.05,
        },
    }
    results = run_training(parse_config(raw, source="test").resolved(), tmp_path / "run")
    m = results.metrics
    generations = json.loads(RunFolder(tmp_path / "run").output("generations.json").read_text(encoding="utf-8"))
    by_task: dict[str, list[bool]] = {}  # the first word of the instruction: Reverse or Sort
    for g in generations:
        task = g["prompt"].removeprefix(tokenizer.bos_token or "").split()[0]
        by_task.setdefault(task, []).append(g["generation"].strip() == g["reference"])
    rates = {task: sum(hits) / len(hits) for task, hits in by_task.items()}
    assert m["exact_match"] == pytest.approx(sum(map(sum, by_task.values())) / len(generations))
    print(
        f"{family}: exact_match={m['exact_match']:.3f} {rates} stop_rate={m['stop_rate']:.3f} "
        f"response_perplexity={m['response_perplexity']:.3f} ({results.train_seconds:.0f} s)"
    )
    assert len(generations) == 200 and set(rates) == {"Reverse", "Sort"}
    assert m["exact_match"] >= EXACT_MATCH[family] and min(rates.values()) > 0.3
    assert m["stop_rate"] >= 0.95
    assert m["response_perplexity"] < 2.0


@pytest.mark.skipif(not ALPACA.is_dir(), reason="../shared/data/alpaca is absent")
def test_alpaca_held_out_perplexity_falls_far_below_the_untrained_models(tmp_path):
    """A tokenizer trained on the 100-record file, a random Llama trained on 900 of the 1k sample;
    the 100 held out are scored before and after."""
    first100 = json.loads((ALPACA / "alpaca_tiny.first100.torchtune.json").read_text(encoding="utf-8"))
    corpus = [ALPACA_PROMPT, ALPACA_PROMPT_NO_INPUT] + [
        r[k] for r in first100 for k in ("instruction", "input", "output")
    ]
    tokenizer = llama_like(corpus=corpus, vocab_size=2000)
    raw = {
        "model": decoder_folder(tmp_path / "model", "llama", tokenizer, positions=512),
        "task": "instruction",
        "method": "full",
        "seed": 0,
        "data": {"train_file": str(ALPACA / "alpaca_data_1k.sample.json"), "eval_split": "holdout", "holdout": 100},
        "instruction": {"generate": 8, "max_new_tokens": 32, "bootstrap": 500},
        "train": {"epochs": 3, "batch_size": 16, "max_length": 512, "learning_rate": 2e-3},
    }
    cfg = parse_config(raw, source="test").resolved()
    data = load_task_data(cfg)
    untrained = AutoModelForCausalLM.from_pretrained(raw["model"])
    eval_set = data.task.for_run(cfg).encode(data.eval, tokenizer, 512)
    before = perplexity_metrics(score_tokens(untrained, eval_set, tokenizer.pad_token_id, 32, "fp32"), 500)

    results = run_training(cfg, tmp_path / "run")
    after = results.metrics
    print(
        f"alpaca: response perplexity {before['response_perplexity']:.1f} untrained → "
        f"{after['response_perplexity']:.1f} [{after['response_perplexity_low']:.1f}, "
        f"{after['response_perplexity_high']:.1f}] after {results.steps} steps ({results.train_seconds:.0f} s)"
    )
    assert results.eval_examples == 100 and after["response_tokens"] == before["response_tokens"]
    assert after["response_perplexity_high"] < before["response_perplexity_low"] / 5
