"""Serving: metrics from timestamps, vLLM's constraints, PEFT mixed-adapter batches against each
adapter alone and against merged models, the benchmark's outputs, and export for serving."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lorascope.cli.main import main
from lorascope.errors import LorascopeError
from lorascope.serving import RequestTiming, Workload, check_vllm, load_workload, summarize
from lorascope.serving.peft_backend import generate, load_base, merged_models, with_adapters


def test_metrics_equal_a_hand_computation():
    timings = [
        RequestTiming(sent=0.0, first_token=0.1, done=0.5, input_tokens=10, output_tokens=5),
        RequestTiming(sent=0.0, first_token=0.2, done=1.0, input_tokens=10, output_tokens=9),
        RequestTiming(sent=1.0, first_token=1.3, done=1.4, input_tokens=20, output_tokens=1),
    ]
    summary = summarize(timings)
    assert summary["mean_latency_ms"] == pytest.approx((500 + 1000 + 400) / 3)
    assert summary["p50_latency_ms"] == pytest.approx(500)
    assert summary["p99_latency_ms"] == pytest.approx(500 + 0.98 * (1000 - 500))  # linear interpolation
    assert summary["mean_ttft_ms"] == pytest.approx((100 + 200 + 300) / 3)
    assert summary["mean_tpot_ms"] == pytest.approx((400 / 4 + 800 / 8) / 2)  # a one-token answer has none
    assert summary["duration_s"] == pytest.approx(1.4)
    assert summary["request_throughput"] == pytest.approx(3 / 1.4)
    assert summary["output_throughput"] == pytest.approx(15 / 1.4)
    assert summary["total_token_throughput"] == pytest.approx((15 + 40) / 1.4)


def adapter_folder(tmp_path, **config):
    folder = tmp_path / "adapter"
    folder.mkdir(exist_ok=True)
    base = {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "bias": "none"}
    (folder / "adapter_config.json").write_text(json.dumps(base | config))
    return folder


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"r": 32}, "rank 32 exceeds max_lora_rank 16"),
        ({"rank_pattern": {"q_proj": 64}}, "rank 64 exceeds"),
        ({"use_dora": True}, "does not serve DoRA"),
        ({"bias": "lora_only"}, "bias 'lora_only'"),
        ({"modules_to_save": ["classifier"]}, "modules_to_save ['classifier']"),
        ({"init_lora_weights": "pissa_niter_4"}, "rewrote the base weights"),
        ({"target_modules": ["q_proj", "classifier"]}, "['classifier'] are not adapted by vLLM's llama"),
        ({"target_modules": ".*proj"}, "is a regex"),
    ],
)
def test_vllm_objections_name_what_to_change(tmp_path, config, message):
    problems = check_vllm(adapter_folder(tmp_path, **config), max_lora_rank=16, model_type="llama")
    assert len(problems) == 1 and message in problems[0]


def test_a_plain_lora_adapter_passes_and_an_odd_max_rank_is_refused(tmp_path):
    folder = adapter_folder(tmp_path)
    assert check_vllm(folder, 16, "llama") == []
    assert "vLLM accepts 1, 8, 16" in check_vllm(folder, 12, "llama")[0]


WORKLOAD = {
    "base": "tiny-llama",
    "random_adapters": {"count": 3, "r": 4},
    "prompts": {"count": 6, "input_tokens": 8, "output_tokens": 6},
    "batch_sizes": [1, 3],
    "repetitions": 2,
    "warmup": 0,
}


@pytest.fixture(scope="module")
def served():
    workload = Workload.model_validate(WORKLOAD)
    base, tokenizer = load_base(workload)
    peft_model = with_adapters(base, workload)
    return workload, peft_model, merged_models(peft_model, workload.adapter_names), tokenizer


def test_a_mixed_batch_gives_each_request_what_its_adapter_gives_alone(served):
    workload, peft_model, merged, tokenizer = served
    prompts = torch.randint(10, 200, (3, 8), generator=torch.Generator().manual_seed(0)).tolist()
    names = ["random-0", "random-1", "random-2"]
    mixed = generate(peft_model, tokenizer, prompts, 6, adapter_names=names).tokens
    for i, name in enumerate(names):
        peft_model.set_adapter(name)
        alone = generate(peft_model, tokenizer, prompts[i : i + 1], 6).tokens[0]
        assert mixed[i] == alone  # greedy: the same tokens
        assert generate(merged[name], tokenizer, prompts[i : i + 1], 6).tokens[0] == alone  # merged = unmerged
    with peft_model.disable_adapter():
        plain = generate(peft_model, tokenizer, prompts, 6).tokens
    assert plain != mixed  # the adapters do change the output
    assert len({tuple(t) for t in mixed}) == 3


def test_the_benchmark_writes_every_mode_batch_size_and_repetition(tmp_path, capsys):
    spec = tmp_path / "w.yaml"
    spec.write_text(json.dumps(WORKLOAD))
    assert main(["serve-bench", str(spec), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert {(r["mode"], r["batch_size"], r["repetition"]) for r in rows} == {
        (m, str(b), str(k)) for m in ("adapters", "merged", "base") for b in (1, 3) for k in (0, 1)
    }
    assert all(float(r["requests"]) == 6 and float(r["mean_latency_ms"]) > 0 for r in rows)
    overhead = list(csv.DictReader((tmp_path / "out" / "overhead.csv").open()))
    for row in overhead:
        mine = [float(r["mean_latency_ms"]) for r in rows if r["batch_size"] == row["batch_size"]]
        assert float(row["ci_low"]) <= float(row["latency_ratio"]) <= float(row["ci_high"]) and mine
    adapters = np.mean(
        [float(r["mean_latency_ms"]) for r in rows if r["mode"] == "adapters" and r["batch_size"] == "3"]
    )
    merged = np.mean([float(r["mean_latency_ms"]) for r in rows if r["mode"] == "merged" and r["batch_size"] == "3"])
    assert float(overhead[1]["latency_ratio"]) == pytest.approx(adapters / merged)
    assert (tmp_path / "out" / "serving.png").is_file() and "batch   3 · adapters" in capsys.readouterr().out
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(saved["results"]) == len(rows) and len(saved["overhead"]) == 2


def test_a_workload_without_adapters_is_refused(tmp_path):
    spec = tmp_path / "w.yaml"
    spec.write_text("base: tiny-llama\n")
    with pytest.raises(LorascopeError, match="give adapters .saved folders., random_adapters, or http targets"):
        load_workload(spec)


def test_export_copies_the_adapter_merges_it_and_says_why_vllm_refuses_a_task_head(tmp_path, capsys):
    from transformers import AutoModelForSequenceClassification

    from lorascope.analysis.run_models import RunModels
    from lorascope.config import parse_config
    from lorascope.training import run_training
    from tests.conftest import tiny_run_config

    run = tmp_path / "run"
    run_training(parse_config(tiny_run_config(train__epochs=1)).resolved(), run)
    assert main(["serve-export", str(run), "--out", str(tmp_path / "out"), "--merged"]) == 0
    [record] = json.loads((tmp_path / "out" / "exported.json").read_text())
    assert (tmp_path / "out" / "adapters" / "run" / "adapter_model.safetensors").is_file()
    assert any("modules_to_save" in p for p in record["vllm_problems"])  # the classification head
    merged = AutoModelForSequenceClassification.from_pretrained(record["merged"]).eval()
    unmerged = RunModels(run).tuned().eval()
    ids = torch.randint(5, 100, (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, unmerged(input_ids=ids).logits)
    assert "vLLM cannot serve it" in capsys.readouterr().out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``transformers serve`` on 127.0.0.1 with a local tiny Llama folder."""
    import subprocess
    import sys

    from tests.serving.servers import free_port, healthy

    pytest.importorskip("fastapi", reason="transformers[serving] (a dev extra) is not installed")
    pytest.importorskip("uvicorn", reason="transformers[serving] (a dev extra) is not installed")
    from transformers import AutoModelForCausalLM

    from lorascope.models.tiny import tiny_config_and_tokenizer

    folder = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    config, tokenizer = tiny_config_and_tokenizer("tiny-llama")
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "transformers.cli.transformers",
        "serve",
        str(folder),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        if not healthy(url, process, 60):
            pytest.fail("transformers serve did not start within 60 s")
        yield url, str(folder)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_streaming_requests_to_a_real_server_are_timed(server):
    from lorascope.serving.openai_http import run_requests

    url, model = server
    timings = run_requests(url, [model] * 4, ["the of and to"] * 4, max_tokens=6, concurrency=2, fixed_length=False)
    assert len(timings) == 4
    for t in timings:
        assert t.sent < t.first_token <= t.done and 1 <= t.output_tokens <= 6 and t.input_tokens > 0
        assert t.tpot is None or t.tpot >= 0
    summary = summarize(timings)
    assert summary["mean_ttft_ms"] <= summary["mean_latency_ms"]


def test_the_openai_http_backend_benchmarks_each_target(server, tmp_path):
    url, model = server
    workload = {
        "http": {
            "targets": {"adapters": {"url": url, "models": [model]}, "merged": {"url": url, "models": [model]}},
            "fixed_length": False,  # transformers serve rejects vLLM's min_tokens and ignore_eos
        },
        "prompts": {"count": 4, "input_tokens": 6, "output_tokens": 4},
        "batch_sizes": [1, 2],
        "repetitions": 2,
        "warmup": 1,  # warm-up repetitions are numbered from -1
    }
    spec = tmp_path / "http.yaml"
    spec.write_text(json.dumps(workload))
    assert main(["serve-bench", str(spec), "--backend", "openai-http", "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert {(r["mode"], r["batch_size"]) for r in rows} == {(m, b) for m in ("adapters", "merged") for b in ("1", "2")}
    assert all(float(r["output_throughput"]) > 0 for r in rows)
    assert len(list(csv.DictReader((tmp_path / "out" / "overhead.csv").open()))) == 2


def test_without_vllm_its_backend_says_what_to_do(tmp_path, capsys):
    try:
        import vllm  # noqa: F401

        pytest.skip("vLLM is installed here")
    except ImportError:
        pass
    spec = tmp_path / "w.yaml"
    spec.write_text(json.dumps(WORKLOAD))
    assert main(["serve-bench", str(spec), "--backend", "vllm", "--out", str(tmp_path / "out")]) == 2
    assert "vLLM is not installed" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_dataset_prompts_of_different_lengths_are_left_padded_without_changing_answers(served, tmp_path):
    from lorascope.serving.bench import token_prompts

    workload, peft_model, _, tokenizer = served
    records = [{"instruction": text} for text in ("Name a colour.", "Give three tips for staying healthy today.", "Hi")]
    data = tmp_path / "alpaca.json"
    data.write_text(json.dumps(records))
    spec = Workload.model_validate(
        WORKLOAD
        | {"prompts": {"count": 3, "input_tokens": 12, "output_tokens": 5, "file": str(data), "field": "instruction"}}
    )
    prompts = token_prompts(spec, tokenizer, 0, np.random.default_rng(0))
    assert [len(p) for p in prompts] == [min(12, len(tokenizer(r["instruction"])["input_ids"])) for r in records]
    peft_model.set_adapter("random-1")
    together = generate(peft_model, tokenizer, prompts, 5)
    assert [t.input_tokens for t in together.timings] == [len(p) for p in prompts]
    for i, prompt in enumerate(prompts):
        assert generate(peft_model, tokenizer, [prompt], 5).tokens[0] == together.tokens[i]
    bad = Workload.model_validate(WORKLOAD | {"prompts": {"count": 3, "file": str(data), "field": "text"}})
    with pytest.raises(LorascopeError, match="record 0 has no text field 'text'"):
        token_prompts(bad, tokenizer, 0, np.random.default_rng(0))


def test_export_of_instruction_runs_writes_a_workload_over_the_base_they_trained_on(tmp_path, capsys):
    """A causal-LM adapter on a built-in base (random weights, drawn from the run's seed): the base
    is saved with the exact weights the adapter trained on, and the workload feeds serve-bench."""
    from transformers import AutoModelForCausalLM

    from lorascope.analysis.run_models import RunModels
    from lorascope.config import parse_config
    from lorascope.training import run_training

    raw = {"model": "tiny-llama", "task": "synthetic_instruction", "method": "lora", "seed": 3,
           "data": {"synthetic_size": 48}, "instruction": {"template": "{instruction} {input} => {response}", "generate": 0},
           "train": {"max_steps": 2, "batch_size": 8}}  # fmt: skip
    run_training(parse_config(raw).resolved(), tmp_path / "run")
    out = tmp_path / "serving"
    assert main(["serve-export", str(tmp_path / "run"), "--out", str(out)]) == 0
    [record] = json.loads((out / "exported.json").read_text())
    assert record["head"] == "causal-lm" and record["workload"] == str(out / "workload.yaml")
    assert f"workload: {out / 'workload.yaml'}" in capsys.readouterr().out
    workload = load_workload(out / "workload.yaml")
    assert [a.name for a in workload.adapters] == ["run"] and Path(workload.base) == (out / "base" / "run").resolve()
    saved = AutoModelForCausalLM.from_pretrained(workload.base).state_dict()
    started = RunModels(tmp_path / "run").base()[0].state_dict()
    assert saved.keys() == started.keys() and all(torch.equal(saved[k], started[k]) for k in saved)
    overrides = ["prompts.count=2", "prompts.input_tokens=4", "prompts.output_tokens=3", "batch_sizes=[1]",
                 "repetitions=1", "warmup=0"]  # fmt: skip
    spec = str(out / "workload.yaml")
    assert main(["serve-bench", spec, *overrides, "--out", str(tmp_path / "bench")]) == 0
    rows = list(csv.DictReader((tmp_path / "bench" / "results.csv").open()))
    assert {r["mode"] for r in rows} == {"adapters", "merged", "base"}


def test_base_config_reshapes_a_built_in_base_and_names_a_bad_field():
    from pydantic import ValidationError

    from lorascope.serving.peft_backend import base_config
    from lorascope.serving.vllm_backend import check_head_size, head_size

    reshaped = Workload.model_validate(WORKLOAD | {"base_config": {"num_attention_heads": 2}})
    assert head_size(base_config(reshaped)) == 32 and head_size(base_config(Workload.model_validate(WORKLOAD))) == 16
    cpu = [32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512]  # vLLM 0.32's CPU attention
    check_head_size(base_config(reshaped), "tiny-llama", cpu)
    with pytest.raises(LorascopeError, match="head size 16; vLLM's CPU attention takes 32, 64"):
        check_head_size(base_config(Workload.model_validate(WORKLOAD)), "tiny-llama", cpu)
    check_head_size(base_config(Workload.model_validate(WORKLOAD)), "tiny-llama", None)  # a GPU's kernels
    with pytest.raises(LorascopeError, match="base_config.heads: LlamaConfig has no field heads"):
        base_config(Workload.model_validate(WORKLOAD | {"base_config": {"heads": 2}}))
    with pytest.raises(LorascopeError, match="hidden_size 64 is not a multiple of num_attention_heads 3"):
        base_config(Workload.model_validate(WORKLOAD | {"base_config": {"num_attention_heads": 3}}))
    with pytest.raises(ValidationError, match="base_config: only for a built-in base"):
        Workload.model_validate(WORKLOAD | {"base": "./my-model", "base_config": {"num_attention_heads": 2}})


def test_timings_measured_apart_are_put_on_one_clock_batch_after_batch_and_share_after_share():
    from lorascope.serving.vllm_backend import in_turn

    def timing(sent, first, done):
        return RequestTiming(sent, first, done, 8, 4)

    # batch 0: model a's share (two requests) measured at t=100, model b's at t=500; batch 1: a at t=900
    placed = in_turn([[[timing(100, 101, 103), timing(100, 102, 104)], [timing(500, 500.5, 502)]],
                      [[timing(900, 901, 901.5)]]])  # fmt: skip
    assert [(t.sent, t.first_token, t.done) for t in placed] == [
        (0, 1, 3), (0, 2, 4),  # a's share from the batch's start
        (0, 4.5, 6),  # b's share after a's: its requests waited from the batch's start
        (6, 7, 7.5),  # the next batch starts when the last one ended
    ]  # fmt: skip
    summary = summarize(placed)
    assert summary["duration_s"] == 7.5 and summary["output_throughput"] == pytest.approx(16 / 7.5)
