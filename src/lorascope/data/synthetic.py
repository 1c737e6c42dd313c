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
