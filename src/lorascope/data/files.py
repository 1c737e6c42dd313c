"""Examples from CSV or JSONL files, with a mapping from task fields to file columns."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from lorascope.errors import LorascopeError

Record = dict[str, object]


def read_text(path: Path) -> str:
    """A data file's text (UTF-8, a byte-order mark dropped); a byte that is not UTF-8 names its line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LorascopeError(f"{path} line {line}: not UTF-8 text (byte {data[exc.start]:#04x})") from None


def _rows(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise LorascopeError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows = []
        for number, line in enumerate(read_text(path).splitlines(), start=1):
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
        reader = csv.DictReader(io.StringIO(read_text(path), newline=""), delimiter="\t" if suffix == ".tsv" else ",")
        return [(reader.line_num, row) for row in reader]  # the file's own line: blank lines are skipped
    raise LorascopeError(f"{path}: unsupported file type '{suffix}' (use .csv, .tsv or .jsonl)")


def read_records(path: Path, fields: dict[str, str], required: tuple[str, ...]) -> tuple[list[Record], list[str]]:
    """Read records with canonical keys (``id``, ``text``, ``text_pair``, ``label``), and where each
    stands (``train.csv line 7``), for messages about its values.

    ``fields`` maps each canonical key to its column; ``required`` keys must be present in
    every row. A missing ``id`` column numbers the rows.
    """
    records: list[Record] = []
    places: list[str] = []
    for number, row in _rows(path):
        record: Record = {}
        for key, column in fields.items():
            if column in row and row[column] not in (None, ""):
                record[key] = row[column]
            elif key in required:
                raise LorascopeError(f"{path} line {number}: missing column '{column}' (field '{key}')")
        record.setdefault("id", str(len(records)))
        records.append(record)
        places.append(f"{path} line {number}")
    if not records:
        raise LorascopeError(f"{path}: no examples (a header at most)")
    return records, places
