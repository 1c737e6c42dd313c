import numpy as np
import pytest
from scipy.stats import ortho_group

from lorascope.analysis import intruder_counts, max_cosines


def base_weight(size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """W₀ = U diag(s) Vᵀ with a known, decaying spectrum (10 down to 0.1)."""
    u, v = ortho_group.rvs(size, random_state=0), ortho_group.rvs(size, random_state=1)
    s = np.geomspace(10, 0.1, size)
    return u @ np.diag(s) @ v.T, u, s, v


def test_a_weight_identical_to_the_base_has_no_intruders():
    w0, *_ = base_weight()
    np.testing.assert_allclose(max_cosines(w0, w0), 1.0, atol=1e-10)
    assert set(intruder_counts(w0, w0).values()) == {0}


def test_a_planted_update_orthogonal_to_the_top_directions_is_exactly_one_intruder():
    w0, u, _, v = base_weight()
    direction = u[:, -16:].sum(axis=1) / 4.0  # an equal mix of the 16 weakest directions: |cos| = 0.25 with each
    partner = v[:, -16:].sum(axis=1) / 4.0
    tuned = w0 + 20.0 * np.outer(direction, partner)  # the largest singular value now
    cosines = max_cosines(w0, tuned, k=10)
    assert cosines[0] == pytest.approx(0.25, abs=0.01)  # the weak base directions mix in a little
    np.testing.assert_allclose(cosines[1:], 1.0, atol=1e-10)  # the other top directions are the base's
    counts = intruder_counts(w0, tuned, k=10)
    assert counts == {0.1: 0, 0.2: 0, 0.3: 1, 0.4: 1, 0.5: 1, 0.6: 1, 0.7: 1, 0.8: 1, 0.9: 1}


def test_a_rotation_of_the_whole_output_space_makes_every_direction_an_intruder():
    w0, *_ = base_weight(32)
    rotation = ortho_group.rvs(32, random_state=5)
    cosines = max_cosines(w0, rotation @ w0, k=5)
    assert np.all(cosines < 0.9) and intruder_counts(w0, rotation @ w0, k=5, epsilons=(1.01,)) == {1.01: 5}


def test_bad_input_is_rejected():
    w0, *_ = base_weight(8)
    with pytest.raises(ValueError, match="differ in shape"):
        max_cosines(w0, w0[:, :7])
    with pytest.raises(ValueError, match="k must be in"):
        max_cosines(w0, w0, k=9)


def tiny_model(name: str, seed: int = 0):
    import torch
    from transformers import AutoModelForSequenceClassification

    from lorascope.models.tiny import tiny_config_and_tokenizer

    torch.manual_seed(seed)
    return AutoModelForSequenceClassification.from_config(tiny_config_and_tokenizer(name)[0])


def test_block_weights_are_every_linear_layer_of_the_blocks_with_their_layer_index():
    from lorascope.analysis.intruders import block_weights

    bert = block_weights(tiny_model("tiny-bert"))
    assert len(bert) == 2 * 6  # two blocks of query, key, value, attention output, intermediate, output
    assert bert["bert.encoder.layer.1.attention.self.query"][0] == 2  # block 1's output is hidden state 2
    assert not any("classifier" in n or "pooler" in n or "embeddings" in n for n in bert)
    gpt2 = tiny_model("tiny-gpt2")
    weights = block_weights(gpt2)
    c_attn = gpt2.transformer.h[0].attn.c_attn
    layer, weight = weights["transformer.h.0.attn.c_attn"]
    assert layer == 1 and weight.shape == (c_attn.nf, c_attn.weight.shape[0])  # Conv1D transposed to out × in


def test_model_intruders_finds_a_planted_update_in_its_layer_and_nothing_elsewhere():
    import torch

    from lorascope.analysis.intruders import model_intruders

    base, tuned = tiny_model("tiny-bert"), tiny_model("tiny-bert")
    name = "bert.encoder.layer.1.attention.self.value"
    w0 = base.get_submodule(name).weight.detach().double().numpy()
    u, _, vt = np.linalg.svd(w0)
    planted = w0 + 20.0 * np.outer(u[:, -16:].sum(axis=1) / 4.0, vt[-16:].sum(axis=0) / 4.0)
    with torch.no_grad():
        tuned.get_submodule(name).weight.copy_(torch.tensor(planted, dtype=torch.float32))
    counts = model_intruders(base, tuned, k=10)
    assert counts[name] == (2, intruder_counts(w0, planted.astype(np.float32), k=10))
    assert counts[name][1][0.5] == 1 and counts[name][1][0.2] == 0
    assert all(sum(c.values()) == 0 for n, (_, c) in counts.items() if n != name)
    other = tiny_model("tiny-bert", seed=1)  # unrelated weights: most top directions are new
    assert sum(c[0.5] for _, c in model_intruders(base, other).values()) > 50
