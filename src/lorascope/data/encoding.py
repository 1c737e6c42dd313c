"""Tokenised examples as a map-style dataset, padded per batch by the collator."""

from __future__ import annotations

from collections.abc import Sequence

from torch.utils.data import Dataset


class EncodedDataset(Dataset):
    """A list of feature dicts (``input_ids``, ``attention_mask``, ``labels``, …)."""

    def __init__(self, features: list[dict[str, object]]):
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict[str, object]:
        return self.features[index]


def encode_pairs(
    tokenizer,
    texts: Sequence[str],
    pairs: Sequence[str] | None,
    labels: Sequence[float | int],
    max_length: int,
) -> EncodedDataset:
    """Tokenise single sentences or sentence pairs in one batched call (truncation, no padding)."""
    encoded = tokenizer(list(texts), list(pairs) if pairs is not None else None, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded]
    features = [{k: encoded[k][i] for k in keys} | {"labels": labels[i]} for i in range(len(texts))]
    return EncodedDataset(features)
