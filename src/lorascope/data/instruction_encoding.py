"""Instruction examples as token ids: prompts from a template, labels on the response and EOS.

Prompt and response are tokenised separately and their ids concatenated, so the boundary is
exact whatever the tokenizer merges (no search for a response marker); EOS is appended to every
response and kept in its labels even when the tokenizer pads with EOS. The first token of an
example is never a target (nothing predicts it), packed or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lorascope.errors import LorascopeError

Record = dict[str, object]
IGNORE = -100  # the label of a token that carries no loss

ALPACA_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)


def prompt_text(record: Record, template: str, tokenizer, where: str) -> str:
    """The prompt of ``record``: Alpaca's (its no-input form when the input is empty), the
    tokenizer's chat template (instruction and input as one user turn, the assistant's turn opened)
    or a template string cut at its ``{response}`` slot."""
    instruction, given = str(record["instruction"]), str(record.get("input") or "")
    if template == "alpaca":
        form = ALPACA_PROMPT if given else ALPACA_PROMPT_NO_INPUT
        return form.format(instruction=instruction, input=given)
    if template == "chat":
        if not getattr(tokenizer, "chat_template", None):
            raise LorascopeError(
                "instruction.template: chat, but the tokenizer has no chat template; use alpaca or a template string"
            )
        content = f"{instruction}\n\n{given}" if given else instruction
        messages = [{"role": "user", "content": content}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if given and "{input}" not in template:
        raise LorascopeError(f"{where}: has an input, but instruction.template has no {{input}} slot for it")
    return template.removesuffix("{response}").format(instruction=instruction, input=given)


def leading_specials(tokenizer) -> list[int]:
    """The ids the tokenizer puts before a text (Llama's BOS; none for GPT-2), found by encoding a
    text with and without its special tokens; what it puts after (an EOS) is left out."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            return list(full[:i])
    return []


@dataclass(frozen=True)
class Example:
    """One example's ids and labels; ``prompt_length`` ids of prompt, then the response and EOS."""

    input_ids: list[int]
    labels: list[int]
    prompt_length: int

    @property
    def response_positions(self) -> range:
        return range(self.prompt_length, len(self.input_ids))


def encode_example(
    prompt: list[int], response: list[int], eos: int, max_length: int, loss_on: str, where: str
) -> Example:
    """``prompt + response + [eos]`` cut to ``max_length`` (the response's end goes first); the
    labels are the ids on the response and EOS (``loss_on: response``) or on every token but the first."""
    if len(prompt) >= max_length:
        raise LorascopeError(
            f"{where}: the prompt is {len(prompt)} tokens, which leaves no room for a response in "
            f"train.max_length {max_length}; raise train.max_length or shorten the prompt"
        )
    target = (list(response) + [eos])[: max_length - len(prompt)]
    ids = list(prompt) + target
    labels = (list(prompt) if loss_on == "all" else [IGNORE] * len(prompt)) + target
    labels[0] = IGNORE
    return Example(ids, labels, len(prompt))


class InstructionDataset(torch.utils.data.Dataset):
    """Encoded examples, one per record, in order; items are ``input_ids``, ``attention_mask`` and ``labels``."""

    def __init__(self, records: list[Record], examples: list[Example]):
        self.records = records
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        e = self.examples[i]
        return {"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids), "labels": e.labels}

    def pool_masks(self) -> list[list[int]]:
        """1 on each example's response tokens (and EOS): what drift snapshots pool over."""
        return [[int(j >= e.prompt_length) for j in range(len(e.input_ids))] for e in self.examples]


@dataclass
class PackedDataset(torch.utils.data.Dataset):
    """Examples packed in order into sequences of at most ``max_length`` tokens; each example's
    ``position_ids`` start at 0, which is how the model keeps attention within an example."""

    max_length: int
    source: InstructionDataset
    packs: list[list[int]] = field(init=False)  # example indices per packed sequence

    def __post_init__(self) -> None:
        self.packs, length = [], self.max_length + 1
        for i, e in enumerate(self.source.examples):
            if length + len(e.input_ids) > self.max_length:
                self.packs.append([])
                length = 0
            self.packs[-1].append(i)
            length += len(e.input_ids)

    def __len__(self) -> int:
        return len(self.packs)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        examples = [self.source.examples[j] for j in self.packs[i]]
        return {
            "input_ids": [t for e in examples for t in e.input_ids],
            "labels": [t for e in examples for t in e.labels],
            "position_ids": [p for e in examples for p in range(len(e.input_ids))],
        }


@dataclass
class PositionedDataset(torch.utils.data.Dataset):
    """The examples of ``source`` with their own ``position_ids`` (0, 1, …): what a padding-free batch
    is made of."""

    source: InstructionDataset

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        e = self.source.examples[i]
        return {"input_ids": e.input_ids, "labels": e.labels, "position_ids": list(range(len(e.input_ids)))}


def left_padded(prompts: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) with shorter prompts padded on the left, as decoders generate."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
    return ids, mask


class InstructionCollator:
    """Right-padded batches: ids with the pad id, labels with −100, ``attention_mask`` and
    ``position_ids`` (0, 1, … over each example's real tokens). Packed batches carry their own
    ``position_ids`` and no attention mask, and ask the model for no cache, so that transformers
    builds the per-example causal mask from the positions. With ``flatten``, items that carry their
    positions (padding-free training) are put end to end in one sequence: no padding at all, and no
    example is a target of the one before it (each example's first label is −100)."""

    def __init__(self, pad_id: int, flatten: bool = False):
        self.pad_id = pad_id
        self.flatten = flatten

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, torch.Tensor | bool]:
        if self.flatten and "position_ids" in features[0]:
            keys = ("input_ids", "labels", "position_ids")
            batch: dict[str, torch.Tensor | bool] = {
                k: torch.tensor([[t for f in features for t in f[k]]]) for k in keys if k in features[0]
            }
            batch["use_cache"] = False
            return batch
        width = max(len(f["input_ids"]) for f in features)

        def padded(key: str, value: int) -> torch.Tensor:
            return torch.tensor([f[key] + [value] * (width - len(f[key])) for f in features])

        batch = {"input_ids": padded("input_ids", self.pad_id)}
        if "labels" in features[0]:
            batch["labels"] = padded("labels", IGNORE)
        if "pool_mask" in features[0]:
            batch["pool_mask"] = padded("pool_mask", 0)
        if "position_ids" in features[0]:  # packed: padding forms a sequence of its own, attended by no example
            batch["position_ids"] = torch.tensor(
                [f["position_ids"] + list(range(width - len(f["position_ids"]))) for f in features]
            )
            batch["use_cache"] = False
            return batch
        mask = padded("attention_mask", 0)
        batch["attention_mask"] = mask
        batch["position_ids"] = (mask.cumsum(-1) - 1).clamp_min(0)
        return batch
