"""Instruction tuning: label masking, exact perplexity, packing, reading Alpaca files."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from lorascope.config import InstructionConfig
from lorascope.data.instruction import (
    InstructionTask,
    perplexity_metrics,
    read_instructions,
    score_tokens,
)
from lorascope.data.instruction_encoding import IGNORE, InstructionCollator, PackedDataset
from lorascope.data.synthetic import make_instruction_examples
from lorascope.errors import LorascopeError
from lorascope.models.tiny import tiny_config_and_tokenizer
from tests.instruction_tokenizers import gpt2_like, llama_like

RECORDS = [
    {"id": "a", "instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well, sleep, move."},
    {"id": "b", "instruction": "Sort the digits.", "input": "3 1 2", "output": "1 2 3"},
    {"id": "c", "instruction": "Reverse the words.", "input": "sun dog", "output": "dog sun"},
]


def _task(**settings) -> InstructionTask:
    return InstructionTask("instruction", settings=InstructionConfig(**settings))


def _targets(ids: list[int], labels: list[int]) -> list[int]:
    return [t for t, label in zip(ids, labels, strict=True) if label != IGNORE]


@pytest.mark.parametrize("make", [gpt2_like, llama_like, lambda: llama_like(chat=True)], ids=["gpt2", "llama", "chat"])
def test_loss_falls_on_the_response_and_eos_alone(make):
    tokenizer = make()
    template = "chat" if tokenizer.chat_template else "alpaca"
    assert tokenizer.pad_token_id == tokenizer.eos_token_id  # EOS must survive although it is the pad
    dataset = _task(template=template).encode(RECORDS, tokenizer, 256)
    for record, example in zip(RECORDS, dataset.examples, strict=True):
        targets = _targets(example.input_ids, example.labels)
        assert targets[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(targets[:-1]).strip() == record["output"]
        prompt = tokenizer.decode(example.input_ids[: example.prompt_length], skip_special_tokens=True)
        assert record["instruction"] in prompt and "Response" in prompt or "assistant" in prompt
        assert record["output"] not in prompt
    batch = InstructionCollator(tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])
    for row, example in enumerate(dataset.examples):  # padding never carries loss; EOS still does
        assert _targets(batch["input_ids"][row].tolist(), batch["labels"][row].tolist()) == _targets(
            example.input_ids, example.labels
        )


def test_llama_prompts_start_with_bos_and_gpt2_prompts_with_text():
    for tokenizer, first in ((llama_like(), "<s>"), (gpt2_like(), None)):
        example = _task().encode(RECORDS[:1], tokenizer, 256).examples[0]
        head = tokenizer.convert_ids_to_tokens(example.input_ids[0])
        assert (head == first) if first else head not in tokenizer.all_special_tokens
        assert example.input_ids.count(tokenizer.eos_token_id) == 1  # one EOS, at the end


def test_loss_on_all_covers_every_token_but_the_first():
    tokenizer = llama_like()
    example = _task(loss_on="all").encode(RECORDS[1:2], tokenizer, 256).examples[0]
    assert example.labels[0] == IGNORE
    assert example.labels[1:] == example.input_ids[1:]


def test_a_template_string_cuts_at_its_response_slot():
    tokenizer = gpt2_like()
    example = (
        _task(template="Q: {instruction} | {input}\nA:{response}").encode(RECORDS[1:2], tokenizer, 256).examples[0]
    )
    assert tokenizer.decode(example.input_ids[: example.prompt_length]) == "Q: Sort the digits. | 3 1 2\nA:"


@pytest.mark.parametrize(
    "template, problem",
    [
        ("{instruction} {input}", "no {response} slot"),
        ("{instruction} {response} end", "must end with"),
        ("{input} {response}", "no {instruction} slot"),
        ("{instruction} {answer}{response}", "unknown slot"),
    ],
)
def test_bad_templates_are_refused(template, problem):
    with pytest.raises(ValueError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        InstructionConfig(template=template)


def test_a_prompt_longer_than_max_length_names_its_record():
    tokenizer = gpt2_like()
    records = [dict(r, where=f"train.json record {i + 1}") for i, r in enumerate(RECORDS)]
    with pytest.raises(LorascopeError, match=r"train.json record 1: the prompt is \d+ tokens.*max_length 20"):
        _task().encode(records, tokenizer, 20)


def test_an_input_without_a_slot_is_an_error():
    with pytest.raises(LorascopeError, match="record b.*no \\{input\\} slot"):
        _task(template="{instruction}{response}").encode(RECORDS, gpt2_like(), 256)


def test_a_long_response_is_cut_and_keeps_its_prompt():
    tokenizer = gpt2_like()
    example = _task(template="{instruction}{response}").encode(RECORDS[:1], tokenizer, 12).examples[0]
    assert len(example.input_ids) == 12 and example.prompt_length < 12
    assert all(label != IGNORE for label in example.labels[example.prompt_length :])


def _tiny(name: str, seed: int = 0):
    config, tokenizer = tiny_config_and_tokenizer(name)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config).eval(), tokenizer


def _brute_force(model, dataset) -> tuple[float, float]:
    """Response and sequence perplexity, one example at a time, unpadded, in float64."""
    model = model.double()
    sums = counts = seq_sum = seq_count = 0.0
    with torch.no_grad():
        for e in dataset.examples:
            ids = torch.tensor([e.input_ids])
            logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), -1)
            token_logp = [float(logp[t - 1, e.input_ids[t]]) for t in range(1, len(e.input_ids))]
            response = token_logp[e.prompt_length - 1 :]
            sums, counts = sums - sum(response), counts + len(response)
            seq_sum, seq_count = seq_sum - sum(token_logp), seq_count + len(token_logp)
    model.float()
    return math.exp(sums / counts), math.exp(seq_sum / seq_count)


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_perplexity_equals_a_brute_force_float64_computation_at_any_batch_size(name, padding_side):
    model, tokenizer = _tiny(name)
    tokenizer.padding_side = padding_side  # the tokenizer's default side (left for Llama's) changes nothing
    records = make_instruction_examples(11, 3)
    dataset = _task(template="{instruction} {input} => {response}").encode(records, tokenizer, 64)
    assert len({len(e.input_ids) for e in dataset.examples}) > 3  # batches hold padding
    response, sequence = _brute_force(model, dataset)
    for batch_size in (1, 4, 11):
        metrics = perplexity_metrics(score_tokens(model, dataset, tokenizer.pad_token_id, batch_size, "fp32"), 200)
        assert metrics["response_perplexity"] == pytest.approx(response, rel=1e-5)
        assert metrics["sequence_perplexity"] == pytest.approx(sequence, rel=1e-5)
        assert metrics["response_perplexity_low"] < metrics["response_perplexity"] < metrics["response_perplexity_high"]


def test_token_weighted_and_per_example_perplexity_differ_as_defined():
    from lorascope.data.instruction import Scored

    scored = Scored(
        [np.array([1.0, 1.0, 1.0, 1.0]), np.array([3.0])], np.array([4.0, 3.0]), np.array([4, 1]), np.array([2, 0])
    )
    metrics = perplexity_metrics(scored, 200)
    assert metrics["response_perplexity"] == pytest.approx(math.exp(7 / 5))
    assert metrics["example_perplexity"] == pytest.approx((math.exp(1) + math.exp(3)) / 2)
    assert metrics["token_accuracy"] == pytest.approx(2 / 5)


def _summed_loss(model, batches) -> tuple[float, int]:
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            labels = batch.pop("labels")
            logits = model(**batch).logits[:, :-1]
            target = labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(
                logits.transpose(1, 2), target, reduction="sum", ignore_index=IGNORE
            )
            total, count = total + float(loss), count + int((target != IGNORE).sum())
    return total, count


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
@pytest.mark.parametrize("loss_on", ["response", "all"])
def test_packed_and_unpacked_losses_agree(name, loss_on):
    model, tokenizer = _tiny(name, seed=1)
    task = _task(template="{instruction} {input} => {response}", loss_on=loss_on, packing=True)
    dataset = task.encode(make_instruction_examples(24, 5), tokenizer, 64)
    packed = task.for_training(dataset, 160)
    assert isinstance(packed, PackedDataset) and len(packed) < len(dataset) / 2
    collate = InstructionCollator(tokenizer.pad_token_id)
    plain = _summed_loss(
        model, [collate([dataset[i] for i in range(j, min(j + 5, len(dataset)))]) for j in range(0, len(dataset), 5)]
    )
    batches = [collate([packed[i] for i in range(j, min(j + 3, len(packed)))]) for j in range(0, len(packed), 3)]
    together = _summed_loss(model, [dict(b) for b in batches])
    assert together[1] == plain[1]
    assert together[0] == pytest.approx(plain[0], rel=1e-5)
    leaky = [dict(b, attention_mask=torch.ones_like(b["input_ids"])) for b in batches]  # attention across examples
    assert abs(_summed_loss(model, leaky)[0] - plain[0]) > 20 * max(abs(together[0] - plain[0]), 1e-6 * plain[0])


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_padding_free_batches_give_the_padded_losses(name):
    """Each batch's examples in one sequence with their own positions: the same summed loss and target
    count as the same examples padded, with no pad token; attending across examples would change it."""
    model, tokenizer = _tiny(name, seed=2)
    task = replace(_task(template="{instruction} {input} => {response}"), padding_free=True)
    dataset = task.encode(make_instruction_examples(24, 6), tokenizer, 64)
    flat = task.for_training(dataset, 64)
    collate = task.collator(tokenizer)
    groups = [range(j, min(j + 5, len(dataset))) for j in range(0, len(dataset), 5)]
    batches = [collate([flat[i] for i in g]) for g in groups]
    assert all(b["input_ids"].shape[0] == 1 and "attention_mask" not in b for b in batches)
    assert sum(b["input_ids"].shape[1] for b in batches) == sum(len(e.input_ids) for e in dataset.examples)
    padded = _summed_loss(model, [collate([dataset[i] for i in g]) for g in groups])
    together = _summed_loss(model, [dict(b) for b in batches])
    assert together[1] == padded[1]
    assert together[0] == pytest.approx(padded[0], rel=1e-5)
    leaky = [dict(b, attention_mask=torch.ones_like(b["input_ids"])) for b in batches]
    assert abs(_summed_loss(model, leaky)[0] - padded[0]) > 20 * max(abs(together[0] - padded[0]), 1e-6 * padded[0])


def test_alpaca_json_arrays_and_jsonl_read_alike(tmp_path):
    array, lines = tmp_path / "a.json", tmp_path / "a.jsonl"
    array.write_text(json.dumps([{k: v for k, v in r.items() if k != "id"} for r in RECORDS]), encoding="utf-8")
    lines.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "id"}) + "\n" for r in RECORDS), encoding="utf-8"
    )
    (a, _), (b, _) = read_instructions(array, {}), read_instructions(lines, {})
    assert [{k: r[k] for k in ("instruction", "output")} for r in a] == [
        {k: r[k] for k in ("instruction", "output")} for r in b
    ]
    assert a[1]["input"] == "3 1 2" and "input" not in a[0]


def test_a_column_mapping_renames_fields(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"prompt": "Say hi.", "completion": "hi", "kind": "greet"}) + "\n", encoding="utf-8")
    records, _ = read_instructions(path, {"instruction": "prompt", "output": "completion", "category": "kind"})
    assert records == [{"instruction": "Say hi.", "output": "hi", "category": "greet", "id": "0"}]


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_record_without_output_names_file_and_record(tmp_path, suffix):
    path = tmp_path / f"train{suffix}"
    rows = [{"instruction": "a", "output": "b"}, {"instruction": "c"}]
    text = json.dumps(rows) if suffix == ".json" else "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    where = "record 2" if suffix == ".json" else "line 2"
    with pytest.raises(LorascopeError, match=rf"train{suffix} {where}: .*'output'"):
        read_instructions(path, {})


def test_the_generated_tasks_have_one_right_answer():
    for r in make_instruction_examples(200, 0):
        given = str(r["input"]).split()
        expected = sorted(given) if r["category"] == "sort" else list(reversed(given))
        assert str(r["output"]).split() == expected
    assert {r["category"] for r in make_instruction_examples(50, 1)} == {"sort", "reverse"}
