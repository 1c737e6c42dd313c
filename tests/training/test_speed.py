"""speed: — the fast paths give the plain path's losses, and each one is really taken."""

import json

import pytest
import torch

from lorascope.config import parse_config
from lorascope.errors import LorascopeError
from lorascope.models.loading import load_model, load_model_config, load_tokenizer
from lorascope.models.precision import Float32Linear
from lorascope.records import RunFolder
from lorascope.training import run_training
from lorascope.training.environment import choose_precision
from lorascope.training.lm_loss import SupervisedLogitsLoss
from lorascope.training.run import _speed_options
from lorascope.training.trainer import LorascopeTrainer

PLAIN = {"padding_free": False, "fused_loss": False, "frozen_half": False, "group_by_length": False}
needs_bf16 = pytest.mark.skipif(choose_precision("bf16") != "bf16", reason="this CPU has no native bf16")


def _instruction(method, precision, speed, model="tiny-llama", steps=6):
    return {
        "model": model,
        "task": "synthetic_instruction",
        "method": method,
        "seed": 0,
        "data": {"synthetic_size": 96},
        "lora": {"dropout": 0.0},  # dropout masks depend on the batch's shape
        "instruction": {"template": "{instruction} {input} => {response}", "generate": 4, "bootstrap": 100},
        "speed": speed,
        "train": {"max_steps": steps, "batch_size": 16, "logging_steps": 1, "precision": precision},
    }


def _train(tmp_path, name, raw):
    results = run_training(parse_config(raw).resolved(), tmp_path / name)
    log = RunFolder(tmp_path / name).train_log.read_text(encoding="utf-8").splitlines()
    return results, [row["loss"] for row in map(json.loads, log) if "loss" in row]


@pytest.mark.parametrize("method", ["lora", "full"])
def test_padding_free_batches_and_the_fused_loss_give_the_plain_losses_in_float32(tmp_path, capfd, method):
    """The same random batches either way (no length grouping in the plain run): padding-free sequences and
    the loss from labelled rows only give the padded, full-logit losses step by step."""
    fast, fast_losses = _train(tmp_path, "fast", _instruction(method, "fp32", {}))
    assert "speed.fused_loss off" not in capfd.readouterr().err  # its check on the first batch passed
    plain, plain_losses = _train(tmp_path, "plain", _instruction(method, "fp32", PLAIN))
    assert len(fast_losses) == len(plain_losses) == 6
    assert fast_losses == pytest.approx(plain_losses, rel=1e-5)
    assert fast.metrics["response_perplexity"] == pytest.approx(plain.metrics["response_perplexity"], rel=1e-4)


@pytest.mark.slow  # two runs (the float32 test above is the fast one)
@needs_bf16
def test_in_bf16_the_fast_path_stays_within_bf16_rounding_of_the_plain_one(tmp_path):
    """bf16 (8 bits of mantissa) rounds each product by up to 0.4%; over a few steps the losses of the
    two paths stay within 0.5% of each other."""
    _, fast = _train(tmp_path, "fast", _instruction("lora", "bf16", {}))
    _, plain = _train(tmp_path, "plain", _instruction("lora", "bf16", PLAIN))
    assert fast == pytest.approx(plain, rel=5e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_fast_path_stays_within_bf16_rounding_of_the_plain_one(tmp_path):
    _, fast = _train(tmp_path, "fast", _instruction("lora", "bf16", {}))
    _, plain = _train(tmp_path, "plain", _instruction("lora", "bf16", PLAIN))
    print(
        f"measured: largest relative loss gap {max(abs(a - b) / b for a, b in zip(fast, plain, strict=True)):.2e} (limit 5e-3)"
    )
    assert fast == pytest.approx(plain, rel=5e-3)


@pytest.mark.slow  # four runs
@needs_bf16
@pytest.mark.parametrize("model", ["tiny-llama", "tiny-gpt2"])
def test_frozen_half_weights_change_storage_not_a_single_loss(tmp_path, model):
    """Autocast rounds frozen float32 weights to bf16 for every product, so storing them in bf16 gives
    bit-identical losses; the model's bytes fall. GPT-2's LM head is tied to its embeddings and stays."""
    half, half_losses = _train(tmp_path, "half", _instruction("lora", "bf16", {}, model))
    full, full_losses = _train(tmp_path, "fp32", _instruction("lora", "bf16", {"frozen_half": False}, model))
    assert half_losses == full_losses
    assert half.memory_bytes["model"] < 0.75 * full.memory_bytes["model"]
    assert half.memory_bytes["adapters"] == full.memory_bytes["adapters"]


@pytest.mark.slow  # two runs, one with drift snapshots
def test_frozen_half_is_off_where_it_would_change_results(tmp_path):
    """With drift snapshots (float32) or a float32 run the frozen weights stay float32."""
    raw = _instruction("lora", "bf16", {}) | {"drift": {"enabled": True, "every_steps": 3, "probe_size": 8}}
    drifted, _ = _train(tmp_path, "drift", raw)
    fp32, _ = _train(tmp_path, "fp32", _instruction("lora", "fp32", {}))
    assert drifted.memory_bytes["model"] == fp32.memory_bytes["model"]


class ScaledLogits(torch.nn.Module):
    """A causal LM whose logits are its head's times 2 (as soft-capping or logit scaling changes them)."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(50, 16)
        self.head = torch.nn.Linear(16, 50, bias=False)

    def get_output_embeddings(self):
        return self.head

    def forward(self, input_ids, labels=None, **kwargs):
        logits = 2 * self.head(self.embed(input_ids))
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), reduction="mean"
            )
        return type("Out", (), {"loss": loss, "logits": logits})()


def test_a_model_whose_loss_is_not_its_heads_cross_entropy_keeps_its_own(capsys):
    torch.manual_seed(0)
    ids = torch.randint(0, 50, (2, 9))
    loss = SupervisedLogitsLoss("fp32")
    assert loss(ScaledLogits().train(), {"input_ids": ids, "labels": ids}, None) is None
    assert "uses the model's own loss" in capsys.readouterr().err
    assert not loss.enabled and loss(ScaledLogits().train(), {"input_ids": ids, "labels": ids}, None) is None


def test_the_fused_loss_is_taken_by_a_causal_lm_run(tmp_path, monkeypatch):
    """The training steps of a causal-LM run go through the fused loss (its check on the first batch passed)."""
    seen = []
    original = LorascopeTrainer.compute_loss

    def spy(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        seen.append(self.lm_loss is not None and self.lm_loss.enabled and model.training)
        return original(self, model, inputs, return_outputs, num_items_in_batch)

    monkeypatch.setattr(LorascopeTrainer, "compute_loss", spy)
    _train(tmp_path, "run", _instruction("lora", "fp32", {}, steps=2))
    assert seen and all(seen[:2])


def test_task_heads_compute_in_float32_under_autocast():
    """A regression head in bf16 would round a score near 3 to a multiple of 1/64."""
    config = load_model_config("tiny-bert", 1)
    model = load_model("tiny-bert", config, load_tokenizer("tiny-bert"))
    assert isinstance(model.classifier, Float32Linear)
    ids = torch.randint(10, 200, (16, 12))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        scores = model(input_ids=ids).logits
    assert scores.dtype == torch.float32
    assert len(set(scores.flatten().tolist())) == 16  # no ties from rounding
    assert set(model.state_dict()) == set(type(model)(config).state_dict())


def test_group_by_length_moved_to_speed_and_is_read_where_old_configs_have_it():
    moved = parse_config(
        {"model": "tiny-llama", "task": "synthetic_instruction", "instruction": {"group_by_length": False}}
    )
    assert moved.speed.group_by_length is False and "group_by_length" not in moved.instruction.model_dump()
    with pytest.raises(LorascopeError, match="now speed.group_by_length; give it once"):
        parse_config(
            {
                "model": "tiny-llama",
                "task": "synthetic_instruction",
                "instruction": {"group_by_length": False},
                "speed": {"group_by_length": True},
            }
        )


def test_the_speed_options_reach_the_trainer():
    from lorascope.registry import TASKS

    cfg = parse_config({"model": "tiny-bert", "task": "sst2"})
    sst2 = TASKS["sst2"].for_run(cfg)
    assert _speed_options(cfg, sst2) == {"optim": "adamw_torch_fused"}
    slow = cfg.model_copy(update={"speed": cfg.speed.model_copy(update=PLAIN | {"fused_optimizer": False})})
    assert _speed_options(slow, sst2) == {"optim": "adamw_torch"}
    decoder = parse_config({"model": "tiny-llama", "task": "synthetic_instruction"})
    padding_free = TASKS["synthetic_instruction"].for_run(decoder)
    assert _speed_options(decoder, padding_free) == {"optim": "adamw_torch_fused"}


def test_length_buckets_draw_every_example_once_in_batches_of_similar_lengths_in_random_order():
    """Against random batches: a fraction of their padding; the batches' order is not longest to shortest within a
    group (transformers' sampler), the order is a function of seed and epoch, and the short batch is last."""
    from lorascope.data.sampling import LengthBuckets

    rng = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 60, (1010,), generator=rng).tolist()
    sampler = LengthBuckets(lengths, 16, seed=3)
    order = list(sampler)
    assert sorted(order) == list(range(1010)) and len(sampler) == 1010
    batches = [order[i : i + 16] for i in range(0, len(order), 16)]
    assert [len(b) for b in batches[:-1]] == [16] * 63 and len(batches[-1]) == 1010 - 63 * 16

    def padding(batch_list):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batch_list)

    shuffled = torch.randperm(1010, generator=rng).tolist()
    random = padding([shuffled[i : i + 16] for i in range(0, 1010, 16)])
    # sorted groups of g batches over uniform lengths leave about 1/g of random batches' padding
    assert sampler.group == 8 and padding(batches) < 2 / 8 * random
    wide = list(LengthBuckets(lengths, 16, seed=3, group=50))
    assert padding([wide[i : i + 16] for i in range(0, 1010, 16)]) < 2 / 50 * random
    longest = [max(lengths[i] for i in b) for b in batches[:50]]
    assert longest != sorted(longest, reverse=True)
    assert list(LengthBuckets(lengths, 16, seed=3)) == order
    sampler.set_epoch(1)
    assert list(sampler) != order


def test_a_run_with_length_grouped_batches_trains_on_them_and_evaluates_in_order(tmp_path):
    """The run's sampler is the length buckets, and evaluation keeps the examples' order (transformers'
    own grouping reorders evaluation too, and predictions no longer line up with the examples)."""
    from transformers import DataCollatorWithPadding, TrainingArguments

    from lorascope.data.encoding import EncodedDataset
    from lorascope.data.sampling import LengthBuckets

    tokenizer = load_tokenizer("tiny-bert")
    model = load_model("tiny-bert", load_model_config("tiny-bert", 2), tokenizer)
    rng = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 60, (200,), generator=rng).tolist()
    dataset = EncodedDataset([{"input_ids": [7] * n, "labels": i} for i, n in enumerate(lengths)])
    args = TrainingArguments(str(tmp_path), use_cpu=True, report_to="none", per_device_eval_batch_size=16)
    trainer = LorascopeTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=DataCollatorWithPadding(tokenizer),
        length_groups=5,
    )
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, LengthBuckets) and sampler.group == 5
    order = torch.cat([batch["labels"] for batch in trainer.get_eval_dataloader(dataset)]).tolist()
    assert order == list(range(200))


def _partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in _partitions(rest):
        for i in range(len(partition)):
            yield partition[:i] + [[first, *partition[i]]] + partition[i + 1 :]
        yield [[first], *partition]


@pytest.mark.parametrize("seed", range(6))
def test_length_slices_are_the_cheapest_partition_found_by_brute_force(seed):
    from lorascope.data.sampling import length_slices

    rng = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 60, (7,), generator=rng).tolist()
    overhead = [0.0, 10.0, 40.0, 1e6][seed % 4]

    def cost(partition):
        return sum(len(part) * max(lengths[i] for i in part) + overhead for part in partition)

    slices = length_slices(lengths, overhead)
    assert sorted(i for part in slices for i in part) == list(range(7))
    assert cost(slices) == pytest.approx(min(cost(p) for p in _partitions(list(range(7)))))
    if overhead == 1e6:
        assert len(slices) == 1


def _sliced_trainer(tmp_path, slice_overhead, lengths, padding_side="right"):
    from transformers import DataCollatorWithPadding, TrainingArguments

    from lorascope.data.encoding import EncodedDataset

    tokenizer = load_tokenizer("tiny-bert")
    tokenizer.padding_side = padding_side
    config = load_model_config("tiny-bert", 2)
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0  # the same draws sliced or not
    torch.manual_seed(0)
    model = load_model("tiny-bert", config, tokenizer)
    rng = torch.Generator().manual_seed(1)
    rows = [
        {"input_ids": torch.randint(10, 200, (n,), generator=rng).tolist(), "labels": i % 2}
        for i, n in enumerate(lengths)
    ]
    args = TrainingArguments(str(tmp_path), use_cpu=True, report_to="none", per_device_train_batch_size=len(lengths))
    trainer = LorascopeTrainer(model=model, args=args, train_dataset=EncodedDataset(rows),
                               data_collator=DataCollatorWithPadding(tokenizer), slice_overhead=slice_overhead)  # fmt: skip
    trainer.create_optimizer_and_scheduler(num_training_steps=1)
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop
    return trainer, next(iter(trainer.get_train_dataloader()))


def test_a_sliced_batch_has_the_unsliced_loss_and_gradient(tmp_path):
    """Slices padded to their own longest, their mean losses weighted by their share: the loss and
    every gradient of the whole batch (float32, no dropout), with fewer padded tokens computed."""
    lengths = [3, 5, 4, 40, 6, 38, 7, 3]

    def step(overhead):
        trainer, batch = _sliced_trainer(tmp_path, overhead, lengths)
        parts = trainer._slices(batch) if overhead else None
        loss = trainer.training_step(trainer.model, batch)
        grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
        return loss, grads, parts, batch

    whole, whole_grads, _, batch = step(0)
    sliced, sliced_grads, parts, _ = step(20.0)
    assert len(parts) >= 2
    assert sum(share for _, share in parts) == pytest.approx(1.0)
    computed = sum(part["input_ids"].numel() for part, _ in parts)
    assert computed < 0.6 * batch["input_ids"].numel()
    assert all(part["attention_mask"].all(dim=1).any() for part, _ in parts)  # each padded to its own longest
    torch.testing.assert_close(sliced, whole)
    assert whole_grads.keys() == sliced_grads.keys() and whole_grads
    for name, grad in whole_grads.items():
        torch.testing.assert_close(sliced_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_left_padded_batch_is_left_whole(tmp_path):
    trainer, batch = _sliced_trainer(tmp_path, 20.0, [3, 40, 4, 38], padding_side="left")
    assert trainer._slices(batch) is None
    trainer, batch = _sliced_trainer(tmp_path, 20.0, [3, 40, 4, 38])
    assert len(trainer._slices(batch)) == 2


def test_a_narrow_model_keeps_its_batches_whole_and_a_wide_one_slices_them():
    """A slice's fixed cost against cheaper tokens: tiny-bert (width 64) gains nothing from slicing."""
    from lorascope.data.sampling import length_slices
    from lorascope.training.trainer import slice_overhead

    lengths = [3, 5, 4, 40, 6, 38, 7, 3, 12, 9, 30, 4, 5, 6, 8, 10]
    narrow = load_model_config("tiny-bert", 2)
    wide = load_model_config("tiny-bert", 2)
    wide.hidden_size = 384  # MiniLM's width, where the cost was measured
    if torch.cuda.is_available():
        assert slice_overhead(wide) == 0  # not on a GPU until measured there
        return
    assert len(length_slices(lengths, slice_overhead(narrow))) == 1
    assert len(length_slices(lengths, slice_overhead(wide))) >= 2
