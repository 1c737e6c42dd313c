"""A generated sentiment task whose right answer is known: the majority of polar words wins.

Each sentence mixes neutral filler with positive and negative words; the label is 1 when the
positive words outnumber the negative ones (ties are never generated), so a perfect model
reaches accuracy 1.0 and a constant guess about 0.5.
"""

from __future__ import annotations

import numpy as np

POSITIVE = ("good", "great", "fine", "nice", "happy", "bright", "warm", "calm")
NEGATIVE = ("bad", "awful", "poor", "sad", "dark", "cold", "dull", "ugly")
NEUTRAL = ("the", "a", "movie", "plot", "cast", "was", "and", "but", "very", "story", "film", "its")


def true_label(text: str) -> int:
    """The rule that defines the task."""
    words = text.split()
    return int(sum(w in POSITIVE for w in words) > sum(w in NEGATIVE for w in words))


def make_examples(n: int, seed: int, prefix: str = "") -> list[dict[str, object]]:
    """``n`` labelled sentences, balanced in expectation, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    records: list[dict[str, object]] = []
    while len(records) < n:
        polar = int(rng.choice([1, 3, 5]))
        n_pos = int(rng.integers(0, polar + 1))
        words = [str(w) for w in rng.choice(POSITIVE, n_pos)] + [str(w) for w in rng.choice(NEGATIVE, polar - n_pos)]
        words += [str(w) for w in rng.choice(NEUTRAL, int(rng.integers(3, 7)))]
        rng.shuffle(words)
        text = " ".join(words)
        records.append({"id": f"{prefix}{len(records)}", "text": text, "label": true_label(text)})
    return records


QA_QUESTION = "Which word follows the mark?"
QA_MARK = "#"


def make_qa_examples(n: int, seed: int, prefix: str = "", unanswerable: float = 1 / 3) -> list[dict[str, object]]:
    """``n`` SQuAD-shaped questions about a context of random four-letter words: the answer is the
    word right after the mark ``#``, and a context without the mark (a share ``unanswerable``) has no
    answer. Words have one length so that even a causal model can tell where an answer ends."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    records: list[dict[str, object]] = []
    for i in range(n):
        words = ["".join(rng.choice(letters, 4)) for _ in range(int(rng.integers(6, 14)))]
        answers: list[dict[str, object]] = []
        if rng.random() >= unanswerable:
            at = int(rng.integers(0, len(words)))
            start = len(" ".join(words[:at] + [QA_MARK])) + 1 if at else len(QA_MARK) + 1
            words.insert(at, QA_MARK)
            answers = [{"text": words[at + 1], "answer_start": start}]
        record = {"id": f"{prefix}{i}", "question": QA_QUESTION, "context": " ".join(words), "answers": answers}
        records.append(record | {"label": int(bool(answers))})
    return records


INSTRUCTION_WORDS = ("cat", "dog", "sun", "red", "box", "map", "cup", "pen", "hat", "owl", "fig", "jam")


def make_instruction_examples(n: int, seed: int, prefix: str = "") -> list[dict[str, object]]:
    """``n`` instructions with one right answer, two task types (``category``): reverse three to
    five words, or sort four to six digits ascending."""
    rng = np.random.default_rng(seed)
    records: list[dict[str, object]] = []
    for i in range(n):
        if rng.random() < 0.5:
            words = [str(w) for w in rng.choice(INSTRUCTION_WORDS, int(rng.integers(3, 6)))]
            task = ("reverse", "Reverse the words.", " ".join(words), " ".join(reversed(words)))
        else:
            digits = [str(d) for d in rng.integers(0, 10, int(rng.integers(4, 7)))]
            task = ("sort", "Sort the digits.", " ".join(digits), " ".join(sorted(digits)))
        category, instruction, given, output = task
        records.append(
            {"id": f"{prefix}{i}", "instruction": instruction, "input": given, "output": output, "category": category}
        )
    return records
