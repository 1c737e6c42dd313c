"""The study's results: one row per run (results.csv), means and spreads per task × method (summary.csv).

Every number comes from the runs' ``results.json`` files; ``plan.json`` only says which runs
belong to which table row and how many seeds were planned.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from lorascope.io import write_csv
from lorascope.records import StudyFolder
from lorascope.studies.folder import Entry, study_entries
from lorascope.studies.sanity import sanity_verdict

METRIC_ORDER = ("accuracy", "f1", "pearson", "spearmanr")


def _metric_names(entries: list[Entry]) -> list[str]:
    names = {name for e in entries if e.results for name in e.results.metrics}
    return [m for m in METRIC_ORDER if m in names] + sorted(names - set(METRIC_ORDER))


def _axes(entries: list[Entry]) -> list[str]:
    keys: list[str] = []
    for entry in entries:
        keys += [k for k in entry.group if k not in keys]
    return keys


def run_rows(entries: list[Entry]) -> list[dict]:
    """results.csv: one row per distinct run (a baseline shared by several table rows appears once)."""
    metrics, axes = _metric_names(entries), _axes(entries)
    rows, seen = [], set()
    for e in entries:
        if e.id in seen:
            continue
        seen.add(e.id)
        r = e.results
        row = {"kind": e.kind, "id": e.id, "label": e.label, "status": e.status}
        row |= {axis: e.group.get(axis, "") for axis in axes} | {"seed": e.seed}
        row |= {m: r.metrics.get(m) if r else None for m in metrics}
        for key in (
            "main_metric",
            "model",
            "trainable_params",
            "lora_params",
            "rank_strategy",
            "total_params",
            "eval_examples",
            "train_seconds",
            "peak_memory_mb",
            "steps",
        ):
            row[key] = getattr(r, key) if r else None
        row |= {"folder": e.folder, "error": e.error}
        rows.append(row)
    return rows


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (ddof=1; None with fewer than two values)."""
    if not values:
        return None, None
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else None


def summary_rows(everything: list[Entry], min_score: float) -> list[dict]:
    """summary.csv: per table row (task × method × other axes) the mean and std over finished seeds."""
    entries = [e for e in everything if e.kind in ("baseline", "run")]
    sanity = {json.dumps(e.group, sort_keys=True): e for e in everything if e.kind == "sanity"}
    metrics, axes = _metric_names(entries), _axes(entries)
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        groups.setdefault(json.dumps(e.group, sort_keys=True), []).append(e)
    rows = []
    for key, members in groups.items():
        done = [e.results for e in members if e.results]
        row = {"kind": members[0].kind} | {axis: members[0].group.get(axis, "") for axis in axes}
        row |= {
            "seeds_done": len(done),
            "seeds_planned": len(members),
            "failed": sum(e.status == "failed" for e in members),
        }
        for m in metrics:
            values = [v for r in done if (v := r.metrics.get(m)) is not None]
            row[f"{m}_mean"], row[f"{m}_std"] = _mean_std(values)
            row[f"{m}_n"] = len(values)
        for field in ("trainable_params", "lora_params", "train_seconds", "peak_memory_mb"):
            values = [v for r in done if (v := getattr(r, field)) is not None]
            row[f"{field}_mean"], row[f"{field}_std"] = _mean_std(values)
        row["sanity"], row["sanity_score"] = _sanity(sanity.get(key), min_score)
        rows.append(row)
    return rows


def _sanity(entry: Entry | None, min_score: float) -> tuple[str, float | None]:
    if entry is None:
        return "", None
    if entry.status != "done" or entry.results is None:
        return {"failed": "ERROR", "partial": "unfinished", "pending": "not run"}[entry.status], None
    _, passed, score = sanity_verdict(entry.results, min_score)
    return ("pass" if passed else "FAIL"), score


def write_tables(study_dir: Path) -> tuple[list[dict], list[dict]]:
    """Write results.csv and summary.csv into the study folder; returns (run rows, summary rows)."""
    study = StudyFolder(study_dir)
    plan = study.plan()
    entries = study_entries(study, plan)  # every file read once
    runs, summary = run_rows(entries), summary_rows(entries, plan.sanity["min_score"])
    write_csv(study.results_table, runs, ("kind",))
    write_csv(study.summary_table, summary, ("kind",))
    return runs, summary


def _cell(mean: float | None, std: float | None, digits: int = 3) -> str:
    if mean is None or math.isnan(mean):
        return "—"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def format_summary(summary: list[dict], name: str = "") -> str:
    """The results table: one block per task (and other axes), one line per method, mean ± std over seeds."""
    if not summary:
        return f"study {name}: no runs planned"
    columns = list(summary[0])
    axis_keys = [k for k in columns[: columns.index("seeds_done")] if k not in ("kind", "method")]
    metrics = [k.removesuffix("_n") for k in columns if k.endswith("_n")]
    blocks: dict[tuple, list[dict]] = {}
    for row in summary:
        blocks.setdefault(tuple(row[k] for k in axis_keys), []).append(row)
    lines = [f"study {name}: mean ± sample std over the seeds done (n = done/planned)"]
    for block_key, rows in blocks.items():
        shown = [m for m in metrics if any(r[f"{m}_n"] for r in rows)]
        parts = [str(v) if k == "task" else f"{k}={v}" for k, v in zip(axis_keys, block_key, strict=True) if v != ""]
        width = max(len(str(r["method"])) for r in rows) + 2
        with_lora = any(r["lora_params_mean"] is not None for r in rows)
        lines += ["", " · ".join(parts)]
        values = {m: [_cell(r[f"{m}_mean"], r[f"{m}_std"]) for r in rows] for m in shown}
        widths = {m: max(15, len(m), *map(len, values[m])) + 2 for m in shown}  # never glued together
        lines.append(
            f"{'method':<{width}}{''.join(f'{m:>{widths[m]}}' for m in shown)}{'trainable':>13}"
            + (f"{'LoRA params':>13}" if with_lora else "")
            + f"{'train s':>10}{'peak MB':>9}{'n':>6}  sanity"
        )
        for i, r in enumerate(rows):
            cells = "".join(f"{values[m][i]:>{widths[m]}}" for m in shown)
            sizes = f"{_number(r['trainable_params_mean'], '{:,.0f}'):>13}"
            if with_lora:
                sizes += f"{_number(r['lora_params_mean'], '{:,.0f}'):>13}"
            seconds = _number(r["train_seconds_mean"], "{:.1f}")
            memory = _number(r["peak_memory_mb_mean"], "{:,.0f}")
            count = f"{r['seeds_done']}/{r['seeds_planned']}"
            flags = r["sanity"] + (f" {r['sanity_score']:.3f}" if r["sanity_score"] is not None else "")
            if r["failed"]:
                flags += f"  {r['failed']} run(s) FAILED"
            lines.append(
                f"{str(r['method']):<{width}}{cells}{sizes}{seconds:>10}{memory:>9}{count:>6}  {flags.strip()}".rstrip()
            )
    return "\n".join(lines)


def _number(value: float | None, form: str) -> str:
    return "—" if value is None else form.format(value)
