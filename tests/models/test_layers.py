import torch
from transformers.pytorch_utils import Conv1D

from lorascope.models.layers import matching, target_layers


class QuantLinear(torch.nn.Linear):
    """A subclass of nn.Linear, as quantized linears are: LoRA adapts it like any linear layer."""


def test_target_layers_find_linear_subclasses_and_conv1d_by_suffix():
    model = torch.nn.ModuleDict(
        {
            "block": torch.nn.ModuleDict(
                {"query": QuantLinear(4, 4), "value": Conv1D(4, 4), "norm": torch.nn.LayerNorm(4)}
            ),
            "subquery": torch.nn.Linear(4, 4),  # ends in "query" but not in ".query"
        }
    )
    assert list(target_layers(model, ["query", "value", "norm"])) == ["block.query", "block.value"]
    assert matching(["a.query", "a.subquery", "query"], "query") == ["a.query", "query"]
