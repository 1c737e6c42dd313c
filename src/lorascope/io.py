"""Files every folder shares: JSON written atomically, CSV tables, per-example predictions, console formats."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path


def write_atomically(path: Path, text: str) -> Path:
    """Write through a temporary file and a rename, so a kill never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:  # a full disk, a kill: no half-written temporary file left behind either
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, payload: object, indent: int = 2) -> None:
    """JSON, written atomically."""
    write_atomically(path, json.dumps(payload, indent=indent) + "\n")


def write_csv(path: Path, rows: list[dict], empty_header: tuple[str, ...] = ("empty",)) -> Path:
    """Rows as a CSV table, the columns being every row's keys in first-seen order; written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(k for r in rows for k in r)) or list(empty_header))
    writer.writeheader()
    writer.writerows(rows)
    return write_atomically(path, buffer.getvalue())


def json_safe(metrics: dict[str, float]) -> dict[str, float | None]:
    """Metrics rounded to 6 decimals; NaN (an undefined correlation) becomes null."""
    return {k: None if math.isnan(v) else round(float(v), 6) for k, v in metrics.items()}


def format_metrics(metrics: dict[str, float | None], names: tuple[str, ...] | None = None) -> str:
    """``accuracy=0.8108, f1=n/a`` for a console line: ``names`` (a task's headline metrics) in their
    order when given, else all."""
    shown = [k for k in names if k in metrics] if names else list(metrics)
    return ", ".join(f"{k}={'n/a' if metrics[k] is None else f'{metrics[k]:.4f}'}" for k in shown)


def short_value(value: object) -> str:
    """A config value for a table or console line: floats to 3 significant digits (``0.000275``)."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def write_predictions(
    path: Path, records: list[dict], predictions: list, columns: dict[str, list] | None = None
) -> None:
    """One JSON line per evaluation example: id, gold label, prediction, and any further ``columns``."""
    columns = columns or {}
    lines = (
        json.dumps(
            {"id": record["id"], "label": record.get("label"), "prediction": prediction}
            | {name: values[i] for name, values in columns.items()}
        )
        + "\n"
        for i, (record, prediction) in enumerate(zip(records, predictions, strict=True))
    )
    write_atomically(path, "".join(lines))
