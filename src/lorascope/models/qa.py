"""Extractive QA models: transformers' span head (``qa_outputs``) plus, by default, an answerability
classifier trained jointly with it.

The classifier reads one token that sees the whole input: [CLS] (the first token) for encoders,
the last real token for causal decoders. The loss is ``span + λ · BCE(answerable)``, the span part
over windows that hold the answer only, so windows without one never pull the span logits toward
a fixed token (XLNet's answer-class head is the in-library precedent, with λ = 0.5). With
``qa_head: null-token`` the model is transformers' own: a window without the answer points start
and end at token 0 ([CLS], or BOS for a decoder), and the null score is read there.

The settings travel in the model config (``qa_head``, ``qa_answerable_weight``), so a saved model
reloads with the head it was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch
import torch.nn.functional as F
from transformers import PretrainedConfig
from transformers.modeling_outputs import ModelOutput
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    MODEL_FOR_QUESTION_ANSWERING_MAPPING,
)

from lorascope.errors import LorascopeError

CLASSIFIER = "answerability"  # the classifier's module name (PEFT's QA wrapper saves qa_outputs itself)


def is_decoder(config: PretrainedConfig) -> bool:
    """Causal decoders (Llama, GPT-2, Qwen …): a causal LM family without a masked-LM head."""
    model_type = getattr(config, "model_type", None)
    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


@dataclass
class AnswerabilityOutput(ModelOutput):
    """transformers' QA output plus the answerable logit of each window (absent with ``null-token``)."""

    loss: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None
    answerable_logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


def pooled_positions(attention_mask: torch.Tensor | None, length: int, last: bool, batch: int, device) -> torch.Tensor:
    """The token each window's classifier reads: 0, or the last real token (whatever the padding side)."""
    if not last:
        return torch.zeros(batch, dtype=torch.long, device=device)
    if attention_mask is None:
        return torch.full((batch,), length - 1, dtype=torch.long, device=device)
    positions = torch.arange(length, device=device).expand(batch, length)
    return (positions * attention_mask.long()).argmax(dim=-1)


class AnswerabilityMixin:
    """Put before a transformers ``…ForQuestionAnswering`` class; see the module's docstring."""

    # the loss is a mean over the batch: the Trainer must divide it under gradient accumulation
    # (it does not for a model whose forward takes **kwargs, expecting num_items_in_batch there)
    accepts_loss_kwargs = False

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.qa_head = getattr(config, "qa_head", "answerability")
        self.answerable_weight = float(getattr(config, "qa_answerable_weight", 0.5))
        self.reads_last_token = is_decoder(config)
        if self.qa_head == "answerability":
            self.answerability = torch.nn.Linear(config.hidden_size, 1)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        answerable: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> AnswerabilityOutput:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "inputs_embeds": inputs_embeds}
        optional = {
            "token_type_ids": token_type_ids,
            "position_ids": position_ids,
            "output_hidden_states": output_hidden_states,
            "output_attentions": output_attentions,
        }
        inputs |= {k: v for k, v in optional.items() if v is not None}
        outputs = getattr(self, self.base_model_prefix)(**inputs, return_dict=True)
        hidden = outputs[0]
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in self.qa_outputs(hidden).split(1, dim=-1))
        answerable_logits = None
        if self.qa_head == "answerability":
            batch, length = hidden.shape[:2]
            rows = pooled_positions(attention_mask, length, self.reads_last_token, batch, hidden.device)
            answerable_logits = self.answerability(hidden[torch.arange(batch, device=hidden.device), rows]).squeeze(-1)
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = self._loss(start_logits, end_logits, answerable_logits, start_positions, end_positions, answerable)
        return AnswerabilityOutput(
            loss=loss,
            start_logits=start_logits,
            end_logits=end_logits,
            answerable_logits=answerable_logits,
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )

    def _loss(self, start_logits, end_logits, answerable_logits, start_positions, end_positions, answerable):
        start_positions, end_positions = start_positions.view(-1), end_positions.view(-1)
        if answerable_logits is None:  # transformers' own rule: the null answer is a span at token 0
            return (F.cross_entropy(start_logits, start_positions) + F.cross_entropy(end_logits, end_positions)) / 2
        if answerable is None:
            raise ValueError("the answerability head needs the 'answerable' label of each window")
        target = answerable.view(-1).to(answerable_logits.dtype)
        has = target > 0.5
        span = F.cross_entropy(start_logits, start_positions.clamp(min=0), reduction="none")
        span = (span + F.cross_entropy(end_logits, end_positions.clamp(min=0), reduction="none")) / 2
        span = (span * has).sum() / has.sum().clamp(min=1)  # windows without the answer add nothing
        return span + self.answerable_weight * F.binary_cross_entropy_with_logits(answerable_logits, target)


@cache
def _class_for(base: type) -> type:
    return type(f"{base.__name__}WithAnswerability", (AnswerabilityMixin, base), {})


def question_answering_class(config: PretrainedConfig) -> type:
    """transformers' QA class of ``config``'s family with the answerability head mixed in."""
    try:
        base = MODEL_FOR_QUESTION_ANSWERING_MAPPING[type(config)]
    except KeyError:
        raise LorascopeError(
            f"model type '{config.model_type}' has no extractive question-answering head in transformers"
        ) from None
    return _class_for(base)


class QuestionAnsweringHead:
    """The ``question-answering`` entry of ``models.loading.HEADS`` (the interface of an Auto class)."""

    @staticmethod
    def from_config(config: PretrainedConfig, **kwargs) -> torch.nn.Module:
        return question_answering_class(config)._from_config(config, **kwargs)

    @staticmethod
    def from_pretrained(source, config: PretrainedConfig | None = None, **kwargs) -> torch.nn.Module:
        if config is None:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(source, trust_remote_code=kwargs.get("trust_remote_code", False))
        return question_answering_class(config).from_pretrained(source, config=config, **kwargs)
