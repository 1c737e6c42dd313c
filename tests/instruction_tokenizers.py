"""Tokenizers built like GPT-2's and Llama's, trained offline on a little text with real BPE merges,
so that merges across a prompt/response boundary can happen as they do with the real ones."""

from __future__ import annotations

from transformers import PreTrainedTokenizerFast

from lorascope.data.synthetic import make_instruction_examples
from lorascope.models.tiny import gpt2_like_tokenizer, llama_like_tokenizer

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
    """GPT-2-like byte-level BPE trained on ``corpus`` (by default: the Alpaca prompt and generated instructions)."""
    return gpt2_like_tokenizer(corpus or _corpus(), vocab_size)


def llama_like(chat: bool = False, corpus: list[str] | None = None, vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """Llama-like BPE trained on ``corpus`` as ``gpt2_like``; with ``chat``, a Zephyr-style chat template."""
    return llama_like_tokenizer(corpus or _corpus(), vocab_size, ZEPHYR_CHAT if chat else None)
