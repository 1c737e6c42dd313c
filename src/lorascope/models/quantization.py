"""4-bit bases for QLoRA through transformers' bitsandbytes integration, and what quantizing cost.

transformers quantizes each linear layer as it loads the checkpoint (``BitsAndBytesConfig``), so a
base that does not fit in 16 bits never has to. A built-in random model is saved to a temporary
folder first so that it takes the same path. The task heads are never quantized.

Each quantized layer's relative error ‖W − deq(q(W))‖_F / ‖W‖_F is measured against the
checkpoint's own weights, read one tensor at a time.

On a CPU, bitsandbytes repacks a ``Linear4bit``'s weight into an inference-only layout at its first
forward in eval mode without gradients (with AVX-512 BF16); after that no gradient reaches the
adapters through it, and training degrades silently. ``guard_cpu_repacking`` turns that repacking
off on every layer, so preflight checks, evaluations during training and sanity checks cannot
trigger it.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from transformers.pytorch_utils import Conv1D

COMPUTE_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


@dataclass(frozen=True)
class LayerError:
    """One quantized layer: its name, shape (out, in) and relative Frobenius error."""

    name: str
    shape: tuple[int, int]
    relative_error: float


def compute_dtype(requested: str, precision: str) -> torch.dtype:
    """``qlora.compute_dtype``; ``auto`` follows the run's precision (bf16 where it is native)."""
    if requested != "auto":
        return COMPUTE_DTYPES[requested]
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def bnb_config(quant_type: str, double_quant: bool, dtype: torch.dtype, skip: list[str]):
    """transformers' ``BitsAndBytesConfig`` for a 4-bit base; ``skip``: modules kept in full precision."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant_type,
        bnb_4bit_use_double_quant=double_quant,
        bnb_4bit_compute_dtype=dtype,
        llm_int8_skip_modules=skip,
    )


def describe(quantization) -> str | None:
    """A short name of a ``BitsAndBytesConfig``'s 4-bit form (``nf4+dq``), or None without one."""
    if quantization is None:
        return None
    return quantization.bnb_4bit_quant_type + ("+dq" if quantization.bnb_4bit_use_double_quant else "")


def quantized_layers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """Full name → bitsandbytes ``Linear4bit`` for every 4-bit layer of ``model`` (wrapped or not)."""
    import bitsandbytes as bnb

    return {n: m for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}


def guard_cpu_repacking(model: torch.nn.Module) -> None:
    """Keep every 4-bit layer in the layout gradients flow through (module docstring)."""
    for layer in quantized_layers(model).values():
        layer.support_avx512bf16_for_cpu = False


def dequantized_weight(layer: torch.nn.Module) -> torch.Tensor:
    """deq(q(W)) of a ``Linear4bit`` in float32, shaped (out, in)."""
    import bitsandbytes.functional as F

    return F.dequantize_4bit(layer.weight.data, layer.weight.quant_state).float()


def quantized_bytes(model: torch.nn.Module) -> int:
    """Bytes the 4-bit layers hold: packed weights, their scales and (double quantization) the
    scales' own scales and code books."""
    total = 0
    for layer in quantized_layers(model).values():
        total += layer.weight.data.nbytes + (layer.bias.nbytes if layer.bias is not None else 0)
        state = layer.weight.quant_state
        tensors = [v for v in state.as_dict(packed=True).values() if isinstance(v, torch.Tensor)] if state else []
        total += sum(t.nbytes for t in tensors)
    return total


def settings(model: torch.nn.Module) -> dict[str, object]:
    """The 4-bit settings the model was loaded with (from its ``quantization_config``)."""
    q = getattr(model.config, "quantization_config", None)
    q = q.to_dict() if hasattr(q, "to_dict") else dict(q or {})
    return {
        "quant_type": q.get("bnb_4bit_quant_type"),
        "double_quant": q.get("bnb_4bit_use_double_quant"),
        "compute_dtype": str(q.get("bnb_4bit_compute_dtype")).removeprefix("torch."),
    }


def dequantized(model: torch.nn.Module, auto, config) -> torch.nn.Module:
    """``model`` with every 4-bit layer replaced by a float32 layer holding deq(q(W)) (transformers'
    ``dequantize``), and GPT-2's ``Conv1D`` layers given back their own class, so that the copy saves
    and reloads as its architecture: the base a QLoRA adapter was trained on, in full precision."""
    model = model.dequantize()
    for name in conv1d_names(auto, config):
        linear = model.get_submodule(name)
        conv = Conv1D(linear.out_features, linear.in_features)
        conv.weight.data = linear.weight.data.T.contiguous()
        if linear.bias is not None:
            conv.bias.data = linear.bias.data.float()
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, conv)
    model.is_loaded_in_4bit = False
    return model


def conv1d_names(auto, config) -> set[str]:
    """Full names of the layers of the unquantized architecture that are transformers' ``Conv1D``
    (weights stored (in, out), as GPT-2's), from its skeleton on the meta device."""
    with torch.device("meta"):
        plain = auto.from_config(config)
    return {n for n, m in plain.named_modules() if isinstance(m, Conv1D)}


def _checkpoint_tensors(folder: Path) -> dict[str, Path]:
    """Tensor name → the safetensors file holding it, for a folder with one file or an index."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weights = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        return {name: folder / file for name, file in weights.items()}
    out = {}
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            out |= dict.fromkeys(f.keys(), file)
    return out


def layer_errors(model: torch.nn.Module, folder: Path, transposed: set[str]) -> list[LayerError]:
    """The relative error of every 4-bit layer of ``model`` against the checkpoint in ``folder``;
    ``transposed``: the layers stored (in, out), as GPT-2's ``Conv1D``."""
    files = _checkpoint_tensors(folder)
    errors = []
    for name, layer in quantized_layers(model).items():
        key = next((k for k in _candidates(name) if k in files), None)
        if key is None:
            continue
        with safe_open(str(files[key]), framework="pt") as f:
            original = f.get_tensor(key).double()
        approx = dequantized_weight(layer).double()
        if name in transposed:
            original = original.T
        error = float(torch.linalg.norm(original - approx) / torch.linalg.norm(original))
        errors.append(LayerError(name, (int(approx.shape[0]), int(approx.shape[1])), error))
    return errors


def _candidates(name: str) -> list[str]:
    """Checkpoint keys a module's weight may be saved under (with or without the base prefix)."""
    key = f"{name}.weight"
    parts = key.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def load_quantized(auto, source: str | Path, config, quantization, trust_remote_code: bool, build=None):
    """(model, layer errors): ``auto.from_pretrained`` with ``quantization``, quantized on the GPU when
    there is one (on the CPU otherwise). With ``build``
    (a built-in random model), that model is saved to a temporary folder and loaded from there."""
    if build is not None:
        name = config._name_or_path
        with tempfile.TemporaryDirectory(prefix="lorascope-4bit-") as folder:
            build().save_pretrained(folder)
            model, errors = load_quantized(auto, folder, config, quantization, trust_remote_code)
        model.name_or_path = model.config._name_or_path = name  # not the folder, which is gone
        return model, errors
    model = auto.from_pretrained(
        source,
        config=config,
        quantization_config=quantization,
        device_map={"": 0 if torch.cuda.is_available() else "cpu"},
        dtype=torch.float32,
        ignore_mismatched_sizes=True,
        trust_remote_code=trust_remote_code,
    )
    guard_cpu_repacking(model)
    return model, layer_errors(model, _local_folder(source), conv1d_names(auto, config))


def _local_folder(source: str | Path) -> Path:
    """The folder a checkpoint was loaded from: itself, or the hub cache's snapshot."""
    path = Path(source)
    if path.is_dir():
        return path
    from transformers.utils import cached_file

    return Path(cached_file(str(source), "config.json")).parent
