"""Built-in tiny architectures with random weights and a byte-level tokenizer, for tests and benchmarks.

They need no download: the tokenizer maps every UTF-8 byte to one token (no merges), so it works
on any text, and the configs are small enough to train in seconds on a CPU.
"""

from __future__ import annotations

import string

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import BertConfig, GPT2Config, LlamaConfig, PretrainedConfig, PreTrainedTokenizerFast

SPECIALS = {
    "pad": "<pad>",
    "unk": "<unk>",
    "cls": "<cls>",
    "sep": "<sep>",
    "bos": "<s>",
    "eos": "</s>",
    "mask": "<mask>",
}


def byte_tokenizer(encoder: bool) -> PreTrainedTokenizerFast:
    """A byte-level tokenizer; encoders get ``<cls> A <sep> B <sep>``, decoders ``<s> A </s> B </s>``."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: i for i, token in enumerate(SPECIALS.values())}
    vocab |= {ch: len(SPECIALS) + i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=SPECIALS["unk"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    first, last = (SPECIALS["cls"], SPECIALS["sep"]) if encoder else (SPECIALS["bos"], SPECIALS["eos"])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{first} $A {last}",
        pair=f"{first} $A {last} $B:1 {last}:1",
        special_tokens=[(first, vocab[first]), (last, vocab[last])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=SPECIALS["pad"],
        unk_token=SPECIALS["unk"],
        cls_token=SPECIALS["cls"],
        sep_token=SPECIALS["sep"],
        bos_token=SPECIALS["bos"],
        eos_token=SPECIALS["eos"],
        mask_token=SPECIALS["mask"],
        model_max_length=512,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"]
        if encoder
        else ["input_ids", "attention_mask"],
    )


def gpt2_like_tokenizer(corpus: list[str], vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on ``corpus`` with real merges, no BOS added, ``<|endoftext|>`` as EOS and
    (as GPT-2 users set it) as pad."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    out = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    out.pad_token = out.eos_token
    return out


def llama_like_tokenizer(
    corpus: list[str], vocab_size: int = 600, chat_template: str | None = None
) -> PreTrainedTokenizerFast:
    """SentencePiece-style BPE (``▁`` for spaces) trained on ``corpus``, BOS ``<s>`` put before every
    text, EOS ``</s>`` used as pad; optionally a chat template."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], initial_alphabet=list(string.printable)
    )
    tok.train_from_iterator(corpus, trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    out = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    out.pad_token = out.eos_token
    if chat_template:
        out.chat_template = chat_template
    return out


def _bert(vocab: int) -> PretrainedConfig:
    return BertConfig(
        vocab_size=vocab,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=4,
        eos_token_id=5,
    )


def _llama(vocab: int) -> PretrainedConfig:
    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=4,
        eos_token_id=5,
    )


def _gpt2(vocab: int) -> PretrainedConfig:
    return GPT2Config(
        vocab_size=vocab,
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_positions=512,
        pad_token_id=0,
        bos_token_id=4,
        eos_token_id=5,
    )


def tinyllama_1b_config(**overrides) -> LlamaConfig:
    """TinyLlama-1.1B's shape (22 layers, width 2048, 32 heads, 4 key-value heads), for GPU tests
    and benchmarks with random weights, where no pretrained decoder can be downloaded."""
    shape = {
        "vocab_size": 32000,
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 22,
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
        "max_position_embeddings": 2048,
    }
    return LlamaConfig(**(shape | overrides))


ARCHITECTURES = {"tiny-bert": (_bert, True), "tiny-llama": (_llama, False), "tiny-gpt2": (_gpt2, False)}


def tiny_config_and_tokenizer(name: str) -> tuple[PretrainedConfig, PreTrainedTokenizerFast]:
    """Config (random weights are drawn when the model is built) and tokenizer of a built-in model."""
    make_config, encoder = ARCHITECTURES[name]
    tokenizer = byte_tokenizer(encoder)
    return make_config(len(tokenizer)), tokenizer
