"""What the command modules share: the examples, quieter libraries, interruption notes, and flags
derived from the config models they mirror."""

from __future__ import annotations

import argparse
import logging
import typing
import warnings
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from lorascope.config import validation_problems
from lorascope.errors import LorascopeError

ModelT = TypeVar("ModelT", bound=BaseModel)

EXAMPLES = """examples:
  lorascope demo                                   # offline: full vs LoRA on a generated task
  lorascope validate examples/sst2_lora.yaml       # check a config without training
  lorascope train examples/sst2_lora.yaml --out runs/sst2-lora
  lorascope train examples/sst2_lora.yaml lora.r=16 seed=2 data_dir=../shared/data/glue
  lorascope train examples/sst2_lora.yaml --out runs/sst2-lora --resume   # after an interruption
  lorascope study examples/studies/glue_bert_base.yaml --dry-run     # list the runs of a grid
  lorascope study examples/studies/glue_bert_base.yaml --out studies/glue   # start, or continue
  lorascope tune examples/studies/tune_minilm_sst2.yaml   # Optuna per task × method; then `study` uses the winners
  lorascope sanity examples/sst2_lora.yaml         # can this setup overfit 64 training examples?
  lorascope results studies/glue                   # the table: mean ± std over seeds
  lorascope ranks examples/ranks_minilm_sst2.yaml  # per-layer ranks: brief fine-tune, SVD of ΔW
  lorascope ranks --base PRETRAINED --finetuned FINETUNED --budget-r 8   # ranks from two checkpoints
  lorascope drift studies/glue --out drift/glue     # how far each method moved the model's layers
  lorascope report studies/glue                     # a draft paper: report.md, report.html, paper/main.tex
  lorascope serve-bench examples/serving/tiny_llama.yaml   # mixed adapters vs merged models
"""

RESUME = "interrupted: the last checkpoint is kept; to continue, use --resume"
RUN_AGAIN = "interrupted: the last checkpoint is kept; to continue, run the same command again"


def quiet_libraries(verbose: bool = False) -> None:
    """lorascope's own lines only: transformers', PEFT's, the hub's and bitsandbytes' warnings and
    progress bars ("Loading weights", "Writing model shards") off, unless ``verbose``."""
    if verbose:
        return
    import huggingface_hub
    import transformers

    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers|peft")
    warnings.filterwarnings("ignore", category=UserWarning, module="peft|transformers|torch")
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    huggingface_hub.utils.logging.set_verbosity_error()
    huggingface_hub.utils.disable_progress_bars()
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # e.g. its CPU kernel, not downloadable offline


def add_model_flags(
    parser: argparse.ArgumentParser,
    model: type[BaseModel],
    flags: dict[str, str],
    defaults: dict[str, Any] | None = None,
) -> None:
    """Add a flag for each field of ``model`` named in ``flags`` (field → flag, e.g. ``"min_r": "--min-r"``).

    The type (or the choices of a ``Literal``) and the help come from the field; its default is
    shown but not set, so a flag left out takes the model's own default in ``model_from_args``.
    ``defaults`` replaces a field's default where the command's differs.
    """
    for name, flag in flags.items():
        field = model.model_fields[name]
        default = (defaults or {}).get(name, field.default)
        kind = _argument_type(field.annotation)
        parser.add_argument(
            flag, dest=name, default=(defaults or {}).get(name), help=_help(field.description, default), **kind
        )


def model_from_args(model: type[ModelT], args: argparse.Namespace, flags: dict[str, str], **values: Any) -> ModelT:
    """``model`` validated from the flags given (and ``values``); a problem names its flag, in the
    format of config errors, and is raised as ``LorascopeError``."""
    given = {name: getattr(args, name) for name in flags if getattr(args, name) is not None}
    try:
        return model.model_validate(given | values)
    except ValidationError as exc:
        raise LorascopeError("\n".join(validation_problems(exc, keys=flags))) from None


def _argument_type(annotation: Any) -> dict[str, Any]:
    options = typing.get_args(annotation)
    if typing.get_origin(annotation) is Literal:
        return {"choices": list(options)}
    if type(None) in options and len(options) == 2:  # X | None: a flag gives an X
        return _argument_type(next(o for o in options if o is not type(None)))
    if annotation in (int, float, str):
        return {"type": annotation}
    raise TypeError(f"no command-line flag for a field of type {annotation}")


def _help(description: str | None, default: Any) -> str:
    text = (description or "").rstrip(".")
    if text[:2] != text[:2].upper():  # "Share of …" → "share of …"; "SVD: …" stays
        text = text[:1].lower() + text[1:]
    text = text.replace("%", "%%")  # argparse formats help with %
    return f"{text} (default {default})" if text else f"default {default}"
