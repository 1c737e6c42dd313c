"""Datasets from the Hugging Face hub, with one line when the package or the hub is out of reach."""

from __future__ import annotations

from lorascope.errors import LorascopeError


def load_dataset(task: str, name: str, config: str | None, offline_hint: str):
    """``datasets.load_dataset(name, config)`` (honours ``HF_HUB_OFFLINE`` and the local cache);
    ``offline_hint`` says how to do without the hub."""
    try:
        import datasets
    except ImportError:
        raise LorascopeError(
            f"task {task}: loading '{name}' from the hub needs the datasets package "
            f"(pip install 'lorascope[hub]'), or {offline_hint}"
        ) from None
    try:
        return datasets.load_dataset(name, config) if config else datasets.load_dataset(name)
    except Exception as exc:  # network, cache and dataset errors all mean the same to the user
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LorascopeError(
            f"task {task}: cannot load '{name}' from the Hugging Face hub ({reason}); {offline_hint} to work offline"
        ) from None
