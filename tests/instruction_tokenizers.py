"""Tokenizers built like GPT-2's and Llama's, trained offline on a little text with real BPE merges,
so that merges across a prompt/response boundary can happen as they do with the real ones."""

from __future__ import annotations

import string

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from lorascope.data.synthetic import make_instruction_examples

ZEPHYR_CHAT = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _corpus() -> list[str]:
    from lorascope.data.instruction_encoding import ALPACA_PROMPT

    texts = [ALPACA_PROMPT] * 20
    for r in make_instruction_examples(300, 0):
        texts += [f"{r['instruction']} {r['input']}", str(r["output"]), f"### Response:\n{r['output']}"]
    return texts + ["Give three tips for staying healthy.", "Response: yes", "Response:yes", "\n\nyes no maybe"]


def gpt2_like(corpus: list[str] | None = None, vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """Byte-level BPE, no BOS added, ``<|endoftext|>`` as EOS and (as GPT-2 users set it) as pad;
    trained on ``corpus`` (by default: the Alpaca prompt and generated instructions)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus or _corpus(), trainer)
    out = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    out.pad_token = out.eos_token
    return out


def llama_like(chat: bool = False, corpus: list[str] | None = None, vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """SentencePiece-style BPE (``▁`` for spaces), BOS ``<s>`` put before every text, EOS ``</s>`` used as
    pad; with ``chat``, a Zephyr-style chat template; trained on ``corpus`` as ``gpt2_like``."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], initial_alphabet=list(string.printable)
    )
    tok.train_from_iterator(corpus or _corpus(), trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    out = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    out.pad_token = out.eos_token
    if chat:
        out.chat_template = ZEPHYR_CHAT
    return out
