"""Analyses of fine-tuned models: similarity of representations (CKA and others), intruder dimensions."""

from lorascope.analysis.intruders import intruder_counts, max_cosines
from lorascope.analysis.similarity import (
    cosine_per_example,
    linear_cka,
    minibatch_cka,
    procrustes_distance,
    rbf_cka,
)

__all__ = [
    "cosine_per_example",
    "intruder_counts",
    "linear_cka",
    "max_cosines",
    "minibatch_cka",
    "procrustes_distance",
    "rbf_cka",
]
