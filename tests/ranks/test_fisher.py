import numpy as np
import pytest
import torch

from lorascope.ranks.allocation import lora_parameters
from lorascope.ranks.fisher import fisher_ranks, layer_fisher


class Regression(torch.nn.Module):
    """Two linear layers, loss ½‖W₂ W₁ x − y‖², so per-example gradients have a closed form."""

    def __init__(self):
        super().__init__()
        self.first = torch.nn.Linear(3, 4, bias=False)
        self.second = torch.nn.Linear(4, 2, bias=False)

    def forward(self, x, y):
        residual = self.second(self.first(x)) - y
        return type("Out", (), {"loss": 0.5 * residual.pow(2).sum()})()


def test_layer_fisher_is_the_mean_squared_per_example_gradient():
    torch.manual_seed(0)
    model = Regression()
    xs, ys = torch.randn(5, 3), torch.randn(5, 2)
    batches = [{"x": xs[i : i + 1], "y": ys[i : i + 1]} for i in range(5)]
    fisher = layer_fisher(model, {"first": model.first, "second": model.second}, batches)
    w1, w2 = model.first.weight.detach().double().numpy(), model.second.weight.detach().double().numpy()
    expected = {"first": 0.0, "second": 0.0}
    for x, y in zip(xs.double().numpy(), ys.double().numpy(), strict=True):
        r = w2 @ w1 @ x - y  # dL/dW2 = r (W1 x)ᵀ, dL/dW1 = W2ᵀ r xᵀ
        expected["second"] += np.sum(np.outer(r, w1 @ x) ** 2) / 5
        expected["first"] += np.sum(np.outer(w2.T @ r, x) ** 2) / 5
    assert fisher == pytest.approx(expected, rel=1e-5)
    assert all(p.grad is None for p in model.parameters())


def test_fisher_ranks_give_parameters_in_proportion_to_importance():
    shapes = {"a": (64, 64), "b": (64, 64), "c": (128, 64)}
    importance = {"a": 1.0, "b": 3.0, "c": 6.0}
    ranks = fisher_ranks(importance, shapes, budget_r=8)
    budget = sum(lora_parameters(8, s) for s in shapes.values())
    for name, shape in shapes.items():  # r_l (out + in) ≈ budget · I_l / Σ I, up to rounding
        share = budget * importance[name] / 10.0
        assert abs(lora_parameters(ranks[name], shape) - share) <= 0.5 * sum(shape)
    assert fisher_ranks(dict.fromkeys(shapes, 0.0), shapes, 8) == dict.fromkeys(shapes, 8)
