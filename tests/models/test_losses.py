"""The chunked linear cross-entropy against autograd through F.linear and F.cross_entropy."""

import pytest
import torch
import torch.nn.functional as F

from lorascope.models.losses import linear_cross_entropy_sum, module_cross_entropy_sum


def _reference(hidden, weight, bias, targets):
    return F.cross_entropy(F.linear(hidden, weight, bias).float(), targets, reduction="sum")


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("chunk", [7, 64, 1000])  # rows not a multiple of the chunk, one chunk, several
def test_loss_and_gradients_equal_autograd_in_float32(bias, chunk):
    torch.manual_seed(0)
    hidden = torch.randn(150, 32, requires_grad=True)
    weight = (0.2 * torch.randn(500, 32)).requires_grad_()
    b = (0.1 * torch.randn(500)).requires_grad_() if bias else None
    targets = torch.randint(0, 500, (150,))
    inputs = [hidden, weight] + ([b] if bias else [])
    expected = _reference(hidden, weight, b, targets)
    expected_grads = torch.autograd.grad(0.37 * expected, inputs)
    found = linear_cross_entropy_sum(hidden, weight, targets, b, chunk=chunk)
    grads = torch.autograd.grad(0.37 * found, inputs)
    assert float(found) == pytest.approx(float(expected), rel=1e-6)
    for g, e in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)


def test_under_bf16_autocast_the_products_are_bf16_as_the_heads_would_be():
    """The logits are rounded to bf16 as lm_head's output is, then the log-softmax is float32: the loss is the
    model's own bit for bit, and the gradients are within bf16 rounding of autograd's."""
    torch.manual_seed(1)
    hidden = torch.randn(80, 48, requires_grad=True)
    weight = (0.2 * torch.randn(300, 48)).requires_grad_()
    targets = torch.randint(0, 300, (80,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = _reference(hidden, weight, None, targets)
        found = linear_cross_entropy_sum(hidden, weight, targets, chunk=30)
    assert float(found) == pytest.approx(float(expected), rel=1e-6)
    exact = torch.autograd.grad(_reference(hidden.double(), weight.double(), None, targets), [hidden])[0]
    ours = torch.autograd.grad(found, [hidden])[0]
    assert ((ours.double() - exact).norm() / exact.norm()) < 1e-2  # bf16 has 8 bits of mantissa
    fp32 = torch.autograd.grad(linear_cross_entropy_sum(hidden, weight, targets), [hidden])[0]
    assert ((fp32.double() - exact).norm() / exact.norm()) < 1e-5


def test_frozen_weights_get_no_gradient_and_a_wrapped_head_gives_the_same_sum():
    torch.manual_seed(2)
    head = torch.nn.Linear(16, 40)
    head.requires_grad_(False)
    hidden = torch.randn(33, 16, requires_grad=True)
    targets = torch.randint(0, 40, (33,))
    found = linear_cross_entropy_sum(hidden, head.weight, targets, head.bias, chunk=8)
    through_module = module_cross_entropy_sum(hidden, head, targets, chunk=8)
    assert float(found) == pytest.approx(float(through_module), rel=1e-6)
    found.backward()
    assert head.weight.grad is None and hidden.grad is not None


def test_rows_and_targets_must_agree():
    with pytest.raises(ValueError, match="3 rows of hidden states, 2 targets"):
        linear_cross_entropy_sum(torch.zeros(3, 4), torch.zeros(5, 4), torch.zeros(2, dtype=torch.long))
