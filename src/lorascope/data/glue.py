"""GLUE tasks from a local folder in the original TSV layout, or from the hub's ``nyu-mll/glue``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from lorascope.data import hub
from lorascope.data.files import read_text
from lorascope.errors import LorascopeError

Record = dict[str, object]


@dataclass(frozen=True)
class GlueLayout:
    """Where a task's fields sit in its original TSV files."""

    folder: str
    text: str
    text_pair: str | None
    label: str
    id: str | None  # None: the row number is the id (as the hub's ``idx``)
    label_names: tuple[str, ...] | None = None  # string labels, in class-index order


LAYOUTS = {
    "sst2": GlueLayout("SST-2", "sentence", None, "label", None),
    "mrpc": GlueLayout("MRPC", "#1 String", "#2 String", "Quality", None),
    "rte": GlueLayout("RTE", "sentence1", "sentence2", "label", "index", ("entailment", "not_entailment")),
    "stsb": GlueLayout("STS-B", "sentence1", "sentence2", "score", "index"),
}


def _convert_label(value: str, layout: GlueLayout, regression: bool, where: str) -> float | int:
    if layout.label_names is not None:
        if value not in layout.label_names:
            raise LorascopeError(f"{where}: label {value!r} is not one of {list(layout.label_names)}")
        return layout.label_names.index(value)
    try:
        number = float(value) if regression else int(value)
    except ValueError:
        raise LorascopeError(f"{where}: label {value!r} is not a number") from None
    if not math.isfinite(number):
        raise LorascopeError(f"{where}: label {value!r} is not a finite number")
    return number


def read_tsv(path: Path, layout: GlueLayout, regression: bool) -> list[Record]:
    """Read one GLUE TSV split (quotes are literal text in GLUE, so no CSV quoting)."""
    if not path.is_file():
        raise LorascopeError(f"GLUE file not found: {path}")
    lines = read_text(path).splitlines()
    if not lines:
        raise LorascopeError(f"{path}: empty file")
    header = lines[0].split("\t")
    wanted = [c for c in (layout.text, layout.text_pair, layout.label, layout.id) if c is not None]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise LorascopeError(f"{path} line 1: missing column(s) {missing}; header is {header}")
    col = {name: header.index(name) for name in wanted}
    records: list[Record] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) < len(header):
            raise LorascopeError(f"{path} line {number}: {len(cells)} fields, expected {len(header)}")
        record: Record = {
            "id": cells[col[layout.id]] if layout.id else str(len(records)),
            "text": cells[col[layout.text]],
            "label": _convert_label(cells[col[layout.label]], layout, regression, f"{path} line {number}"),
        }
        if layout.text_pair:
            record["text_pair"] = cells[col[layout.text_pair]]
        records.append(record)
    if not records:
        raise LorascopeError(f"{path}: no examples (a header at most)")
    return records


def load_local(task: str, data_dir: Path, regression: bool) -> tuple[list[Record], list[Record]]:
    """Train and dev records of a GLUE task from ``data_dir/<TASK>/{train,dev}.tsv``."""
    layout = LAYOUTS[task]
    if not data_dir.is_dir():
        raise LorascopeError(f"data_dir: folder not found: {data_dir}")
    folder = data_dir / layout.folder
    if not folder.is_dir():
        folder = data_dir  # data_dir may point at the task folder itself
    return read_tsv(folder / "train.tsv", layout, regression), read_tsv(folder / "dev.tsv", layout, regression)


def load_hub(task: str, hub_dataset: str) -> tuple[list[Record], list[Record]]:
    """Train and validation records from the hub (honours ``HF_HUB_OFFLINE`` and the local cache)."""
    splits = hub.load_dataset(task, hub_dataset, task, "set data_dir to a local GLUE folder")
    text, pair = ("sentence", None) if task == "sst2" else ("sentence1", "sentence2")

    def records(split: str) -> list[Record]:
        out: list[Record] = []
        for row in splits[split]:
            record: Record = {"id": str(row["idx"]), "text": row[text], "label": row["label"]}
            if pair:
                record["text_pair"] = row[pair]
            out.append(record)
        return out

    return records("train"), records("validation")
