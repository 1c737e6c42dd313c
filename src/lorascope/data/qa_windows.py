"""Question + context windows for extractive QA, and their spans mapped back to context text.

Every model gets the question first and the context second (so that, under causal attention, each
context token sees the question), cut into windows of ``max_length`` tokens that overlap by
``doc_stride`` tokens, padded on the right later by the collator. Each window keeps the character
offsets of its context tokens, so a predicted token span maps back to the exact context text.

Labels of a window: ``start_positions`` / ``end_positions`` of the gold answer when it lies whole
inside the window and ``answerable`` 1; otherwise ``answerable`` 0 and the span at token 0 (the
null span of the ``null-token`` head; the answerability head ignores it).
"""

from __future__ import annotations

from dataclasses import dataclass

from lorascope.data.encoding import EncodedDataset
from lorascope.errors import LorascopeError

Record = dict[str, object]
Offsets = tuple[tuple[int, int] | None, ...]


@dataclass(frozen=True)
class Window:
    """One window: its question's index in the records, and each token's context offsets (None off context)."""

    example: int
    offsets: Offsets
    answer: tuple[int, int] | None  # token span of the first gold answer, when whole inside
    boundaries: tuple[bool, ...]  # tokens a predicted span may start or end on: context text, not white space alone


class WindowDataset(EncodedDataset):
    """The windows' features (model inputs and labels) and, beside them, what maps spans back to text."""

    def __init__(self, features: list[dict[str, object]], windows: list[Window], records: list[Record]):
        super().__init__(features)
        self.windows = windows
        self.records = records


def token_span(offsets: Offsets, start: int, end: int) -> tuple[int, int] | None:
    """The tokens covering characters ``[start, end)`` of the context, when all of them lie in the window."""
    inside = [i for i, o in enumerate(offsets) if o is not None and o[1] > o[0]]
    if not inside or offsets[inside[0]][0] > start or offsets[inside[-1]][1] < end:
        return None
    first = next(i for i in inside if offsets[i][1] > start)
    last = next(i for i in reversed(inside) if offsets[i][0] < end)
    return (first, last) if first <= last else None


def span_text(context: str, offsets: Offsets, start: int, end: int) -> str:
    """The context text of tokens ``start`` to ``end`` (inclusive)."""
    return context[offsets[start][0] : offsets[end][1]]


def answer_characters(answer: dict[str, object]) -> tuple[int, int]:
    """``[start, end)`` of an answer in its context, surrounding white space left out."""
    text, start = str(answer["text"]), int(answer["answer_start"])  # type: ignore[call-overload]
    lead = len(text) - len(text.lstrip())
    return start + lead, start + len(text.rstrip())


def _cut_questions(tokenizer, questions: list[str], max_question_length: int) -> list[str]:
    """Questions cut to ``max_question_length`` tokens, at a token boundary of the text (BERT's rule)."""
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    cut = []
    for question, offsets in zip(questions, encoded["offset_mapping"], strict=True):
        cut.append(question[: offsets[max_question_length - 1][1]] if len(offsets) > max_question_length else question)
    return cut


def encode_windows(
    tokenizer,
    records: list[Record],
    max_length: int,
    doc_stride: int,
    max_question_length: int,
) -> WindowDataset:
    """The windows of every question (each has at least one), in record order."""
    if not getattr(tokenizer, "is_fast", False):
        raise LorascopeError("task squad_v2 needs a fast tokenizer (character offsets); this model has a slow one")
    room = max_length - max_question_length - tokenizer.num_special_tokens_to_add(pair=True)
    if room <= doc_stride:
        raise LorascopeError(
            f"train.max_length {max_length} leaves {room} context tokens per window after a question of "
            f"qa.max_question_length {max_question_length}; that must be more than qa.doc_stride {doc_stride}"
        )
    tokenizer.padding_side = "right"  # the classifier of a decoder reads the last real token
    questions = _cut_questions(tokenizer, [str(r["question"]).strip() for r in records], max_question_length)
    contexts = [str(r["context"]) for r in records]
    encoded = tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded]
    features, windows = [], []
    for i, example in enumerate(encoded["overflow_to_sample_mapping"]):
        sequence = encoded.sequence_ids(i)
        offsets: Offsets = tuple(
            tuple(o) if s == 1 else None for o, s in zip(encoded["offset_mapping"][i], sequence, strict=True)
        )
        answers = records[example]["answers"]
        answer = token_span(offsets, *answer_characters(answers[0])) if answers else None  # type: ignore[index]
        context = contexts[example]
        boundaries = tuple(o is not None and bool(context[o[0] : o[1]].strip()) for o in offsets)
        windows.append(Window(example, offsets, answer, boundaries))
        start, end = answer or (0, 0)
        features.append(
            {k: encoded[k][i] for k in keys}
            | {"start_positions": start, "end_positions": end, "answerable": float(answer is not None)}
        )
    return WindowDataset(features, windows, records)
