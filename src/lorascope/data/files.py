"""Examples from CSV or JSONL files, with a mapping from task fields to file columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from lorascope.errors import LorascopeError

Record = dict[str, object]


def _rows(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise LorascopeError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise LorascopeError(f"{path} line {number}: invalid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise LorascopeError(f"{path} line {number}: expected a JSON object")
            rows.append((number, row))
        return rows
    if suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            return [(number, row) for number, row in enumerate(reader, start=2)]
    raise LorascopeError(f"{path}: unsupported file type '{suffix}' (use .csv, .tsv or .jsonl)")


def read_records(path: Path, fields: dict[str, str], required: tuple[str, ...]) -> list[Record]:
    """Read records with canonical keys (``id``, ``text``, ``text_pair``, ``label``).

    ``fields`` maps each canonical key to its column; ``required`` keys must be present in
    every row. A missing ``id`` column numbers the rows.
    """
    records: list[Record] = []
    for number, row in _rows(path):
        record: Record = {}
        for key, column in fields.items():
            if column in row and row[column] not in (None, ""):
                record[key] = row[column]
            elif key in required:
                raise LorascopeError(f"{path} line {number}: missing column '{column}' (field '{key}')")
        record.setdefault("id", str(len(records)))
        records.append(record)
    if not records:
        raise LorascopeError(f"{path}: no examples")
    return records
