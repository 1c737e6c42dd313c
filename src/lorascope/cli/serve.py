"""``lorascope serve-export`` and ``serve-bench``: adapters exported for serving, and benchmarked.

``--backend`` chooses among the registered serving backends (``lorascope.registry.BACKENDS``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lorascope.cli.common import RESUME
from lorascope.records import BenchFolder, removed_if_failed
from lorascope.registry import BACKENDS

DEFAULT_BACKEND = "peft"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "serve-export",
        help="export LoRA runs for serving: PEFT adapters (and merged models), with vLLM's objections",
    )
    export.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR", help="run folders, or a study folder")
    export.add_argument("--out", type=Path, default=Path("serving"), help="output folder (default: serving)")
    export.add_argument("--merged", action="store_true", help="also save each adapter merged into its base")
    export.add_argument("--max-lora-rank", type=int, default=16, help="vLLM's max_lora_rank to check against")
    export.set_defaults(run=run, interrupted=RESUME)

    bench = subparsers.add_parser(
        "serve-bench",
        help="latency and throughput of mixed-adapter batches vs merged models vs the base (docs/serving.md)",
    )
    bench.add_argument("spec", type=Path, help="workload (YAML)")
    bench.add_argument("overrides", nargs="*", metavar="key.sub=value", help="override workload keys")
    backends = "; ".join(
        f"{name}: {BACKENDS[name].description}" + (" (default)" if name == DEFAULT_BACKEND else "")
        for name in BACKENDS.names()
    )
    bench.add_argument("--backend", choices=BACKENDS.names(), default=DEFAULT_BACKEND, help=backends)
    bench.add_argument("--out", type=Path, help="output folder (default: serving/<spec name>)")
    bench.set_defaults(run=run, interrupted=RESUME)


def run(args: argparse.Namespace) -> int:
    return _bench(args) if args.command == "serve-bench" else _export(args)


def _export(args: argparse.Namespace) -> int:
    from lorascope.serving.export import export_runs
    from lorascope.studies.folder import drift_runs

    runs = [run for folder in args.runs for run in drift_runs(folder)]
    records = export_runs(runs, args.out, args.merged, args.max_lora_rank)
    for record in records:
        problems = record["vllm_problems"]
        verdict = "vLLM can serve it" if not problems else "vLLM cannot serve it:\n    " + "\n    ".join(problems)
        print(f"{record['name']}: {record['adapter']}" + (f", merged {record['merged']}" if "merged" in record else ""))
        print(f"  {verdict}")
        if "merge_check" in record:
            check = record["merge_check"]
            print(
                f"  merged into the {record['merged_into']}: outputs within {check['max_abs_difference']:.2e} "
                f"of the unmerged adapter's on {check['inputs']} probe inputs"
            )
        if record["head"] != "causal-lm":
            print(f"  a {record['head']} model: serve-bench serves causal LMs, so no workload")
    for workload in dict.fromkeys(r["workload"] for r in records if "workload" in r):
        print(f"workload: {workload}  (lorascope serve-bench {workload} [--backend vllm])")
    print(f"list: {args.out / 'exported.json'}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from lorascope.serving.workload import load_workload

    workload = load_workload(args.spec, args.overrides)
    out = args.out or Path("serving") / args.spec.stem
    with removed_if_failed(out):
        BACKENDS[args.backend](workload, out)
    bench = BenchFolder(out)
    print(f"results: {bench.results_table}, {bench.overhead_table}; figure: {bench.figure}")
    return 0
