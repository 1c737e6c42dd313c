"""QLoRA on a CPU: a 4-bit base (bitsandbytes) under LoRA, for Llama and GPT-2 (``Conv1D``) alike."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from safetensors.torch import load_file

from lorascope.config import parse_config
from lorascope.models.loading import load_model, load_model_config, load_tokenizer
from lorascope.training import run_training
from tests.conftest import tiny_run_config, with_changes
from tests.training.test_run import Interrupt

bnb = pytest.importorskip("bitsandbytes", reason="bitsandbytes (the qlora extra) is not installed")
F = bnb.functional


def qlora_config(model: str = "tiny-llama", **overrides):
    """A seconds-long qlora run; the learning rate is the method's unless given."""
    raw = tiny_run_config(model=model, method="qlora")
    del raw["train"]["learning_rate"]
    return parse_config(with_changes(raw, overrides), source="test").resolved()


def quantized_base(model: str = "tiny-llama", seed: int = 3):
    """The 4-bit starting model of a qlora run, and the fp32 model it was quantized from."""
    from lorascope.methods.qlora import QloraHooks
    from lorascope.training.run import starting_model

    cfg = qlora_config(model, seed=seed)
    config = load_model_config(cfg.model, 2, None)
    quantized, _ = starting_model(cfg, config, "sequence-classification", QloraHooks().quantization(cfg, "fp32"))
    plain, _ = starting_model(cfg, load_model_config(cfg.model, 2, None), "sequence-classification")
    return quantized, plain


def test_the_recipe_fills_what_the_file_leaves_unset():
    cfg = qlora_config()
    assert (cfg.train.learning_rate, cfg.train.scheduler, cfg.train.max_grad_norm) == (
        2e-4,
        "constant_with_warmup",
        0.3,
    )
    assert cfg.train.warmup_ratio == 0.03 and cfg.qlora.quant_type == "nf4" and cfg.qlora.double_quant
    own = qlora_config(train__scheduler="linear", train__max_grad_norm=1.0, train__learning_rate=1e-3)
    assert (own.train.learning_rate, own.train.scheduler, own.train.max_grad_norm) == (1e-3, "linear", 1.0)
    assert qlora_config().model_dump() == parse_config(qlora_config().model_dump()).resolved().model_dump()


@pytest.mark.parametrize("model", ["tiny-llama", "tiny-gpt2"])
def test_the_base_is_4_bit_only_lora_trains_and_the_loss_falls(tmp_path, model):
    results = run_training(qlora_config(model, train__learning_rate=3e-3, train__epochs=3), tmp_path)
    assert results.quantization["quant_type"] == "nf4" and results.quantization["double_quant"] is True
    assert results.memory_bytes["quantized_base"] > 0 and results.memory_bytes["optimizer_state"] > 0
    assert results.memory_bytes["adapters"] == 4 * results.lora_params  # float32 A and B
    quantized, plain = quantized_base(model)
    layers = {n: m for n, m in quantized.named_modules() if isinstance(m, bnb.nn.Linear4bit)}
    linear = [n for n, m in plain.named_modules() if isinstance(m, torch.nn.Linear) or type(m).__name__ == "Conv1D"]
    assert sorted(layers) == sorted(n for n in linear if not n.startswith("score"))  # every linear layer but the head
    assert all(m.weight.dtype == torch.uint8 for m in layers.values())
    assert results.quantization["layers"] == len(layers)
    assert results.lora_targets == sorted({n.rsplit(".", 1)[-1] for n in layers})
    saved = load_file(tmp_path / "adapter" / "adapter_model.safetensors")
    assert all("lora_" in k or "score" in k for k in saved)  # adapters and the head, no base weight
    assert results.trainable_params == results.lora_params + sum(p.numel() for p in plain.score.parameters())
    # 4-bit weights count as the parameters they stand for; the head once (PEFT's trainable copy)
    assert results.total_params == sum(p.numel() for p in plain.parameters()) + results.lora_params
    losses = [json.loads(x)["loss"] for x in (tmp_path / "train_log.jsonl").read_text().splitlines() if '"loss"' in x]
    assert len(losses) >= 4 and sum(losses[-2:]) < sum(losses[:2])


def test_quantization_errors_equal_a_direct_dequantize_and_compare(tmp_path):
    results = run_training(qlora_config("tiny-gpt2", train__max_steps=2), tmp_path)
    quantized, plain = quantized_base("tiny-gpt2")
    rows = list(csv.DictReader((tmp_path / "quantization.csv").open(encoding="utf-8")))
    assert len(rows) == results.quantization["layers"] > 0 and (tmp_path / "quantization.png").is_file()
    modules = dict(plain.named_modules())
    for row in rows:
        weight = modules[row["layer"]].weight.detach()
        if type(modules[row["layer"]]).__name__ == "Conv1D":  # stored (in, out)
            weight = weight.T.contiguous()
        packed, state = F.quantize_4bit(weight, quant_type="nf4", compress_statistics=True)
        direct = F.dequantize_4bit(packed, state).double()
        expected = torch.linalg.norm(weight.double() - direct) / torch.linalg.norm(weight.double())
        assert float(row["relative_error"]) == pytest.approx(float(expected), rel=1e-9)
        assert 0.01 < float(row["relative_error"]) < 0.2  # NF4 on Gaussian weights: about 0.09
    values = [float(r["relative_error"]) for r in rows]
    assert results.quantization["max_relative_error"] == pytest.approx(max(values))


def test_an_eval_forward_first_leaves_training_as_an_fp32_copy_of_the_dequantized_weights():
    """bitsandbytes would repack the 4-bit weights for inference at an eval-mode forward on this
    CPU, after which no gradient reaches the adapters (models.quantization). lorascope turns that
    off: after such a forward, training follows an fp32 model holding deq(q(W)) step for step."""
    from peft import LoraConfig, get_peft_model

    from lorascope.models.quantization import dequantized_weight

    quantized, plain = quantized_base("tiny-llama")
    for name, module in plain.named_modules():  # the fp32 twin: the same weights a 4-bit layer computes with
        if isinstance(module, torch.nn.Linear) and not name.startswith("score"):
            module.weight.data = dequantized_weight(quantized.get_submodule(name)).clone()
    ids = torch.randint(10, 200, (8, 16), generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1] * 4)
    quantized.eval()
    with torch.no_grad():
        quantized(input_ids=ids)  # the forward that used to repack
    curves = []
    for model in (quantized, plain):
        torch.manual_seed(0)
        peft = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
        peft.train()
        trainable = [p for p in peft.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(trainable, lr=0.5)
        curve = []
        for _ in range(6):
            loss = peft(input_ids=ids, labels=labels).loss
            loss.backward()
            assert all(p.grad is not None for p in trainable if p.ndim == 2)
            optimizer.step()
            optimizer.zero_grad()
            curve.append(float(loss))
        curves.append(curve)
    assert curves[0] == pytest.approx(curves[1], rel=1e-4)
    assert curves[0][-1] < curves[0][0]


@pytest.mark.slow  # three short trainings (the fast suite stays under 5 minutes)
def test_an_interrupted_qlora_run_resumes_bit_identical(tmp_path):
    cfg = qlora_config(train__eval_strategy="steps", train__eval_steps=10, train__learning_rate=3e-3)
    straight = run_training(cfg, tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, tmp_path / "resumed", callbacks=[Interrupt(25)])
    resumed = run_training(cfg, tmp_path / "resumed", resume=True)
    assert resumed.resumed_from == "checkpoint-20" and resumed.metrics == straight.metrics
    a = load_file(tmp_path / "straight" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "resumed" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_without_bitsandbytes_the_method_says_what_to_install_and_writes_nothing(monkeypatch, tmp_path, capsys):
    import sys

    import yaml

    from lorascope.cli.main import main

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_run_config(model="tiny-llama", method="qlora")), encoding="utf-8")
    for command in (["validate", str(config)], ["train", str(config), "--out", str(tmp_path / "out")]):
        assert main(command) == 2
        assert capsys.readouterr().err.strip().splitlines() == [
            "error: method qlora needs bitsandbytes: pip install 'lorascope[qlora]'"
        ]
    assert not (tmp_path / "out").exists()


def test_a_saved_folder_loads_in_4_bits_with_its_head_kept(tmp_path):
    from transformers import AutoModelForSequenceClassification

    from lorascope.methods.qlora import QloraHooks
    from lorascope.models.tiny import tiny_config_and_tokenizer

    config, tokenizer = tiny_config_and_tokenizer("tiny-bert")
    config.num_labels = 2
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    cfg = qlora_config(str(tmp_path))
    model = load_model(
        str(tmp_path),
        load_model_config(str(tmp_path), 2, None),
        load_tokenizer(str(tmp_path)),
        quantization=QloraHooks().quantization(cfg, "fp32"),
    )
    assert isinstance(model.classifier, torch.nn.Linear) and not isinstance(model.classifier, bnb.nn.Linear4bit)
    assert isinstance(model.bert.encoder.layer[0].attention.self.query, bnb.nn.Linear4bit)
    assert len(model.quantization_errors) == 13  # 6 per layer × 2, and the pooler


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny-llama", "tiny-gpt2"])
def test_export_merges_into_the_dequantized_base_and_reports_how_far_outputs_moved(tmp_path, model, capsys):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    from lorascope.cli.main import main

    run_training(qlora_config(model, train__learning_rate=3e-3), tmp_path / "run")
    assert main(["serve-export", str(tmp_path / "run"), "--out", str(tmp_path / "out"), "--merged"]) == 0
    [record] = json.loads((tmp_path / "out" / "exported.json").read_text(encoding="utf-8"))
    assert record["merged_into"] == "dequantized 4-bit base" and "dequantized 4-bit base" in capsys.readouterr().out
    assert record["merge_check"]["max_abs_difference"] < 1e-4 and record["merge_check"]["inputs"] > 0

    merged = AutoModelForSequenceClassification.from_pretrained(record["merged"]).eval()  # reloads as its family
    quantized, plain = quantized_base(model)
    unmerged = PeftModel.from_pretrained(quantized, tmp_path / "run" / "adapter").eval()
    naive = PeftModel.from_pretrained(plain, tmp_path / "run" / "adapter").merge_and_unload().eval()
    ids = torch.randint(10, 200, (4, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        reference = unmerged(input_ids=ids).logits
        ours = (merged(input_ids=ids).logits - reference).abs().max()
        into_original = (naive(input_ids=ids).logits - reference).abs().max()
    assert ours < 1e-4 < into_original  # merging into the unquantized weights would change the outputs


@pytest.mark.slow
def test_rank_strategies_measure_from_the_dequantized_base(tmp_path):
    from safetensors.torch import load_file as load

    from lorascope.models.quantization import dequantized_weight

    results = run_training(qlora_config("tiny-llama", lora__strategy="svd-energy", train__max_steps=2), tmp_path)
    ranks = json.loads((tmp_path / "ranks" / "lora_rank_config.json").read_text(encoding="utf-8"))
    base = tmp_path / "ranks" / "dequantized-base"
    assert ranks["checkpoints"]["base"] == str(base) and results.rank_strategy == "svd-energy"
    assert f"model: {base}" in (tmp_path / "ranks" / "finetune" / "config.yaml").read_text(encoding="utf-8")
    saved = load(base / "model.safetensors")
    quantized, plain = quantized_base("tiny-llama")
    for name, layer in quantized.named_modules():
        if isinstance(layer, bnb.nn.Linear4bit):
            assert torch.equal(saved[f"{name}.weight"], dequantized_weight(layer))
            assert not torch.equal(saved[f"{name}.weight"], plain.get_submodule(name).weight)


def test_drift_base_snapshots_of_a_4_bit_base_are_kept_apart():
    from lorascope.analysis.probes import base_key
    from lorascope.data.tasks import load_task_data
    from lorascope.methods.qlora import QloraHooks
    from lorascope.models.quantization import describe

    cfg = qlora_config()
    data = load_task_data(cfg)
    nf4 = describe(QloraHooks().quantization(cfg, "fp32"))
    fp4 = describe(QloraHooks().quantization(qlora_config(qlora__quant_type="fp4", qlora__double_quant=False), "fp32"))
    assert (nf4, fp4) == ("nf4+dq", "fp4")
    assert len({base_key(cfg, data), base_key(cfg, data, nf4), base_key(cfg, data, fp4)}) == 3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_tinyllama_1b_shaped_qlora_run_fits_far_below_lora(tmp_path):
    """bench/qlora_memory.py's two runs (LoRA r=64 on every linear layer, 30 steps of 8 × 512
    tokens); thresholds in tests/README.md."""
    pytest.importorskip("bitsandbytes", reason="bitsandbytes (the qlora extra) is not installed")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "qlora_memory.py"
    spec = importlib.util.spec_from_file_location("qlora_memory", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    base = bench.make_base(tmp_path / "base", tiny=False)
    lora = bench.measure(base, "lora", 30, 8, 512, tmp_path)
    qlora = bench.measure(base, "qlora", 30, 8, 512, tmp_path)
    print(
        f"peak MB: lora {lora['peak_mb']:.0f}, qlora {qlora['peak_mb']:.0f}; tokens/s {lora['tokens_s']:.0f}, {qlora['tokens_s']:.0f}"
    )
    assert qlora["peak_mb"] < 8 * 1024 and qlora["peak_mb"] < 0.6 * lora["peak_mb"]


@pytest.mark.slow  # a study of six short runs with drift, its report (about 40 s)
def test_qlora_runs_through_a_study_with_drift_hypotheses_and_the_report(tmp_path):
    from lorascope.reporting import build_report
    from lorascope.studies import load_study, run_study
    from lorascope.studies.results import write_tables
    from tests.studies.conftest import write_study

    raw = {
        "name": "qlora",
        "base": {
            "model": "tiny-llama",
            "task": "synthetic",
            "data": {"synthetic_size": 320},
            "train": {"epochs": 2, "batch_size": 16, "learning_rate": 3e-3},
            "drift": {"enabled": True, "every_steps": 20},
        },
        "grid": {"seed": [0, 1, 2]},
        "methods": {"lora": {"method": "lora"}, "qlora": {"method": "qlora", "train.learning_rate": 3e-3}},
        "sanity": {"mode": "off"},
        "hypotheses": {
            "claims": [
                {
                    "name": "QLoRA non-inferior",
                    "kind": "non-inferiority",
                    "treatment": "qlora",
                    "reference": "lora",
                    "margin": 0.5,
                }
            ]
        },
    }
    out = tmp_path / "out"
    run_study(load_study(write_study(tmp_path / "study.yaml", raw)), out, echo=lambda line: None)
    write_tables(out)
    rows = [r for r in csv.DictReader((out / "results.csv").open(encoding="utf-8")) if r["kind"] == "run"]
    assert {(r["method"], r["status"]) for r in rows} == {("lora", "done"), ("qlora", "done")} and len(rows) == 6
    qlora_runs = [json.loads(p.read_text()) for p in out.glob("runs/*qlora*/results.json")]
    assert len(qlora_runs) == 3 and all(r["quantization"]["quant_type"] == "nf4" for r in qlora_runs)
    assert len(list((out / "runs").glob("*qlora*/drift/*"))) > 0
    from lorascope.records import DriftFolder

    rows = DriftFolder(out / "drift").rows()
    against_original = [r for r in rows if r.measure == "drift_linear_cka@original"]
    assert {r.method for r in against_original} == {"qlora"}  # the full-precision base: 4-bit runs only
    assert {r.step for r in against_original} == {0, "final"}
    alone = {(r.seed, r.layer): r.value for r in against_original if r.step == 0}  # what quantizing alone moved
    assert len(alone) == 3 * 3  # 3 seeds × (the embeddings and 2 blocks)
    assert all(abs(v) < 1e-12 for (_, layer), v in alone.items() if layer == 0)  # embeddings stay full precision
    assert all(0 < v < 0.5 for (_, layer), v in alone.items() if layer > 0)
    report = build_report(out, tmp_path / "report", ("md",))["md"].read_text(encoding="utf-8")
    assert "| qlora |" in report and "QLoRA non-inferior" in report


@pytest.mark.slow
def test_qlora_is_tuned_in_its_own_space(tmp_path):
    """Two trials of lorascope tune on a qlora row: the method's default space, every trial complete."""
    from optuna.trial import TrialState

    from lorascope.registry import method_spec
    from tests.tuning.conftest import tune_raw
    from tests.tuning.test_search import tuned

    raw = tune_raw(base__model="tiny-llama", base__train__epochs=1, methods={"qlora": {"method": "qlora"}})
    raw["tune"] |= {"trials": 2, "sampler": {"n_startup_trials": 2}, "spaces": {}}
    _, trials = tuned(tmp_path / "study", raw)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert set(trials[0].params) == set(method_spec("qlora").tuning_space)


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        {"task": "stsb", "data_dir": None, "max_eval_samples": None},
        {"task": "synthetic_qa", "train__epochs": 1},
        {
            "task": "synthetic_instruction",
            "data__synthetic_size": 96,
            "train__epochs": 1,
            "train__max_length": 48,
            "instruction": {
                "template": "{instruction} {input} => {response}",
                "generate": 4,
                "max_new_tokens": 8,
                "bootstrap": 200,
            },
        },
    ],
    ids=["regression", "qa", "instruction"],
)
def test_every_task_trains_over_a_4_bit_base(tmp_path, overrides, mini_glue):
    if overrides["task"] == "stsb":
        overrides = overrides | {"data_dir": str(mini_glue / "STS-B")}
    results = run_training(qlora_config(train__learning_rate=3e-3, **overrides), tmp_path)
    assert results.quantization["layers"] == 14 and results.lora_params > 0
    assert all(v is None or v == v for v in results.metrics.values())  # no NaN
    assert results.metrics[results.main_metric] is not None
