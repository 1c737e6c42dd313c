"""Sequential recommenders built from HF configs over item ids: a SASRec-style causal encoder
(GPT-2 or Llama blocks) or a BERT4Rec-style bidirectional one (BERT blocks). The backbone is
transformers' own model (``AutoModel.from_config``), fed item embeddings; scores are the last
hidden states against the same embeddings (tied, as in SASRec and BERT4Rec), so LoRA and the rest
of lorascope apply to the backbone's linear layers as to any transformer.

Item ids are 1..n, 0 is padding (never scored), and n + 1 is BERT4Rec's mask token. Histories are
left-padded, so every user's next item is predicted at the last position; positions count from
each history's first real item.

Losses: full softmax cross-entropy over the catalogue (the default: Klenitskiy & Vasilev, RecSys
2023), the original SASRec's binary cross-entropy against one sampled negative per position, and
for BERT4Rec the masked-item cross-entropy at masked positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, PretrainedConfig

Loss = Literal["softmax", "sampled-bce"]


@dataclass
class RecommenderOutput:
    loss: torch.Tensor | None
    scores: torch.Tensor  # batch × positions × (items + 1): column 0, padding, at -inf


class SequentialRecommender(nn.Module):
    """``num_items`` items over the transformer ``config`` (causal for GPT-2/Llama, bidirectional
    for BERT: ``config.is_decoder`` is not consulted, the architecture decides)."""

    def __init__(self, config: PretrainedConfig, num_items: int, loss: Loss = "softmax"):
        super().__init__()
        self.config, self.num_items, self.loss_kind = config, num_items, loss
        self.bidirectional = config.model_type == "bert"
        self.mask_id = num_items + 1
        self.backbone = AutoModel.from_config(config)
        self.items = nn.Embedding(num_items + 2, config.hidden_size, padding_idx=0)
        nn.init.normal_(self.items.weight, std=getattr(config, "initializer_range", 0.02))
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        negatives: torch.Tensor | None = None,
    ) -> RecommenderOutput:
        """``labels`` (batch × positions, -100 where nothing is predicted) give the loss; the sampled
        BCE loss needs ``negatives`` of the same shape."""
        positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        kwargs = {"position_ids": positions}
        if self.bidirectional:
            kwargs["token_type_ids"] = torch.zeros_like(input_ids)
        hidden = self.backbone(
            inputs_embeds=self.items(input_ids), attention_mask=attention_mask, **kwargs
        ).last_hidden_state
        catalogue = self.items.weight[: self.num_items + 1]
        scores = hidden @ catalogue.T
        scores = scores.masked_fill(torch.arange(scores.shape[-1], device=scores.device) == 0, float("-inf"))
        loss = None
        if labels is not None:
            loss = self._loss(hidden, scores, labels, negatives)
        return RecommenderOutput(loss, scores)

    def _loss(self, hidden, scores, labels, negatives) -> torch.Tensor:
        if self.loss_kind == "softmax":
            return F.cross_entropy(scores.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)
        if negatives is None:
            raise ValueError("the sampled-bce loss needs a negative item for every labelled position")
        where = labels != -100
        chosen = hidden[where]
        positive = (chosen * self.items(labels[where])).sum(-1)
        negative = (chosen * self.items(negatives[where])).sum(-1)
        logits = torch.cat([positive, negative]).float()
        targets = torch.cat([torch.ones_like(positive), torch.zeros_like(negative)]).float()
        return F.binary_cross_entropy_with_logits(logits, targets)

    @torch.no_grad()
    def next_item_scores(self, histories: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Scores of every item as each (left-padded) history's next: at the last position, after a
        mask token appended for the bidirectional model."""
        if self.bidirectional:
            mask = torch.full_like(histories[:, :1], self.mask_id)
            histories = torch.cat([histories, mask], dim=1)
            attention_mask = torch.cat([attention_mask, torch.ones_like(mask)], dim=1)
        return self(histories, attention_mask).scores[:, -1]


def left_padded(histories: list[list[int]], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Histories cut to their last ``length`` items and left-padded with 0: ids and attention mask."""
    ids = torch.zeros((len(histories), length), dtype=torch.long)
    for row, history in enumerate(histories):
        kept = history[-length:]
        if kept:
            ids[row, length - len(kept) :] = torch.tensor(kept)
    return ids, (ids != 0).long()
