"""The built-in rank strategies (``lora.strategy``). Each is named by path and imported only when a
run allocates with it, so validating a config stays light."""

from __future__ import annotations

from lorascope.registry import register_strategy

register_strategy("uniform", "lorascope.ranks.strategies:uniform", "rank lora.r on every target layer")
register_strategy(
    "svd-energy", "lorascope.ranks.strategies:svd_energy", "the spectrum of ΔW after a brief full fine-tune"
)
register_strategy(
    "fisher", "lorascope.ranks.strategies:fisher", "diagonal empirical Fisher information at the pretrained weights"
)
