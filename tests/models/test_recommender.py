"""Sequential recommenders from HF configs: causal vs bidirectional, left padding, the losses
against hand computations, and learning a sequence rule with a known answer."""

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, GPT2Config, LlamaConfig

from lorascope.models.recommender import SequentialRecommender, left_padded

CONFIGS = {
    "gpt2": lambda: GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=64, vocab_size=1,
                               resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0),
    "llama": lambda: LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                 intermediate_size=64, vocab_size=1, max_position_embeddings=64),
    "bert": lambda: BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                               vocab_size=1, max_position_embeddings=64, type_vocab_size=1,
                               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
}  # fmt: skip


def model(kind, loss="softmax", items=20):
    torch.manual_seed(0)
    return SequentialRecommender(CONFIGS[kind](), items, loss).eval()


@pytest.mark.parametrize("kind", ["gpt2", "llama", "bert"])
def test_only_the_bidirectional_model_sees_later_items(kind):
    recommender = model(kind)
    a = torch.tensor([[3, 4, 5, 6]])
    b = torch.tensor([[3, 4, 9, 2]])  # different after position 1
    mask = torch.ones_like(a)
    with torch.no_grad():
        first, second = recommender(a, mask).scores[0, 1], recommender(b, mask).scores[0, 1]
    assert torch.isinf(first[0]) and first[0] < 0  # padding is never a candidate
    if kind == "bert":
        assert not torch.allclose(first, second)
    else:
        torch.testing.assert_close(first, second)


@pytest.mark.parametrize("kind", ["gpt2", "llama", "bert"])
def test_left_padding_leaves_the_next_item_scores_as_they_are(kind):
    recommender = model(kind)
    alone = recommender.next_item_scores(*left_padded([[3, 4, 5]], 3))
    padded = recommender.next_item_scores(*left_padded([[3, 4, 5], [7, 8, 9, 10, 11, 12]], 6))
    torch.testing.assert_close(padded[0, 1:], alone[0, 1:], rtol=1e-4, atol=1e-5)
    assert left_padded([[1, 2, 3, 4]], 2)[0].tolist() == [[3, 4]]


def test_the_softmax_loss_is_cross_entropy_over_the_catalogue_and_bce_over_sampled_pairs():
    recommender = model("gpt2")
    ids, mask = left_padded([[3, 4, 5], [6, 7, 8, 9]], 4)
    labels = torch.tensor([[-100, 4, 5, 6], [7, 8, 9, 10]])
    labels[0, :2] = -100
    out = recommender(ids, mask, labels)
    where = labels != -100
    log_p = F.log_softmax(out.scores[where][:, 1:].double(), dim=-1)  # the catalogue without padding
    expected = -log_p[torch.arange(int(where.sum())), labels[where] - 1].mean()
    torch.testing.assert_close(out.loss.double(), expected, rtol=1e-5, atol=1e-6)

    bce = model("gpt2", loss="sampled-bce")
    negatives = torch.full_like(labels, 11)
    out = bce(ids, mask, labels, negatives)
    pos = out.scores[where].gather(1, labels[where][:, None]).squeeze(1)
    neg = out.scores[where][:, 11]
    expected = -(F.logsigmoid(pos.double()).sum() + F.logsigmoid(-neg.double()).sum()) / (2 * int(where.sum()))
    torch.testing.assert_close(out.loss.double(), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="needs a negative item"):
        bce(ids, mask, labels)


@pytest.mark.parametrize(
    "kind, steps, lr",
    [("gpt2", 150, 3e-3), pytest.param("bert", 600, 2e-3, marks=pytest.mark.slow)],  # masked items learn slower
)
def test_a_small_recommender_learns_a_sequence_rule(kind, steps, lr):
    """Histories walk the catalogue in steps of 3 (mod 20): the next item is known exactly."""
    items, torch_rng = 20, torch.Generator().manual_seed(1)
    recommender = model(kind, items=items).train()
    optimizer = torch.optim.AdamW(recommender.parameters(), lr=lr)

    def walk(start, length):
        return [(start + 3 * k) % items + 1 for k in range(length)]

    for _ in range(steps):
        starts = torch.randint(0, items, (16,), generator=torch_rng).tolist()
        length = int(torch.randint(4, 10, (1,), generator=torch_rng))  # histories of every length
        sequences = [walk(s, length) for s in starts]
        ids, mask = left_padded([s[:-1] for s in sequences], 8)
        if kind == "bert":  # masked items: the last and one other position per sequence (BERT4Rec)
            labels = torch.full_like(ids, -100)
            first = 8 - (length - 1)  # the histories' first real position
            other = torch.randint(first, 7, (16, 1), generator=torch_rng)
            hide = torch.cat([other, torch.full_like(other, 7)], dim=1)
            labels.scatter_(1, hide, ids.gather(1, hide))
            ids = ids.scatter(1, hide, recommender.mask_id)
        else:
            labels = torch.tensor([[-100] * (9 - length) + s[1:] for s in sequences])
        loss = recommender(ids, mask, labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    recommender.eval()
    tests = [walk(s, 6) for s in range(items)]
    scores = recommender.next_item_scores(*left_padded([t[:-1] for t in tests], 8))
    hits = (scores.argmax(-1) == torch.tensor([t[-1] for t in tests])).float().mean()
    assert hits >= 0.9, float(hits)
