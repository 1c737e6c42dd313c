import json

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoModelForCausalLM

import lorascope
from lorascope.errors import LorascopeError
from lorascope.models.tiny import tiny_config_and_tokenizer
from lorascope.ranks.allocation import lora_parameters
from lorascope.ranks.analysis import allocate, analyze_checkpoints, rank_config, raw_ranks
from lorascope.ranks.rank_config import write_rank_config

PLANTED = {
    "layers.0.self_attn.q_proj": 3,
    "layers.1.self_attn.q_proj": 9,
    "layers.0.mlp.up_proj": 20,
    "layers.1.mlp.up_proj": 1,
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A bare tiny Llama (keys ``layers.…``) and a causal-LM copy (keys ``model.layers.…``) whose
    weights differ by planted updates of known rank (flat spectra) plus noise of 1e-5."""
    root = tmp_path_factory.mktemp("ckpt")
    config, _ = tiny_config_and_tokenizer("tiny-llama")
    torch.manual_seed(0)
    tuned = AutoModelForCausalLM.from_config(config)
    base = AutoModel.from_config(config)
    base.load_state_dict(tuned.model.state_dict())
    base.save_pretrained(root / "base")
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for name, module in tuned.model.named_modules():
            if isinstance(module, torch.nn.Linear):
                out_f, in_f = module.weight.shape
                update = np.zeros((out_f, in_f))
                if name in PLANTED:
                    u, _ = np.linalg.qr(rng.standard_normal((out_f, PLANTED[name])))
                    v, _ = np.linalg.qr(rng.standard_normal((in_f, PLANTED[name])))
                    update = 0.05 * u @ v.T
                update += 1e-5 * rng.standard_normal((out_f, in_f))
                module.weight += torch.from_numpy(update).float()
    tuned.save_pretrained(root / "tuned")
    return root / "base", root / "tuned"


def test_planted_ranks_are_recovered_from_two_checkpoints(checkpoints):
    base, tuned = checkpoints
    spectra = analyze_checkpoints(base, tuned, targets=["q_proj", "up_proj"], energy=0.99)
    assert {name: s.r_raw for name, s in spectra.items()} == {f"model.{k}": v for k, v in PLANTED.items()}
    exact = analyze_checkpoints(base, tuned, targets=["q_proj", "up_proj"], energy=0.99, method="exact")
    for name, spectrum in spectra.items():
        assert spectrum.singular_values[0] == pytest.approx(exact[name].singular_values[0], rel=1e-4)
    everything = analyze_checkpoints(base, tuned)  # every 2-D weight but the embeddings
    assert "model.layers.1.self_attn.o_proj" in everything and not any("embed" in n for n in everything)
    assert "lm_head" not in everything  # the bare base has no head to compare with


def test_ranks_and_config_from_the_spectra_build_a_model(checkpoints, tmp_path):
    base, tuned = checkpoints
    spectra = analyze_checkpoints(base, tuned, targets=["q_proj", "up_proj"], energy=0.99)
    planted = {f"model.{k}": v for k, v in PLANTED.items()}
    for scope in ("layer", "global"):  # equal planted singular values: both scopes recover the ranks
        assert raw_ranks(spectra, 0.99, scope) == planted
    shapes = {n: s.shape for n, s in spectra.items()}
    ranks = allocate(raw_ranks(spectra, 0.99, "global"), shapes, min_r=2, max_r=16)
    assert ranks == {
        "model.layers.0.self_attn.q_proj": 3,
        "model.layers.1.self_attn.q_proj": 9,
        "model.layers.0.mlp.up_proj": 16,
        "model.layers.1.mlp.up_proj": 2,
    }
    budget = allocate(planted, shapes, min_r=2, max_r=32, budget_r=8)
    spent = sum(lora_parameters(budget[n], shapes[n]) for n in shapes)
    assert spent <= sum(lora_parameters(8, s) for s in shapes.values())
    config = rank_config(
        "svd-energy", shapes, ranks, 2.0, {"energy": 0.99}, {"base": str(base), "finetuned": str(tuned)}, spectra
    )
    assert config.total_lora_params == sum(lora_parameters(ranks[n], shapes[n]) for n in shapes)
    path = tmp_path / "lora_rank_config.json"
    write_rank_config(config, path)
    saved = json.loads(path.read_text())
    assert saved["layers"]["model.layers.1.self_attn.q_proj"]["r_raw"] == 9 and saved["schema_version"] == 1
    config_obj, _ = tiny_config_and_tokenizer("tiny-llama")
    model = lorascope.create_peft_model_from_config(AutoModelForCausalLM.from_config(config_obj), path)
    up = model.base_model.model.model.layers[0].mlp.up_proj
    assert up.lora_A["default"].weight.shape[0] == 16 and up.scaling["default"] == pytest.approx(2.0)


def test_checkpoints_without_shared_layers_are_rejected(checkpoints, tmp_path):
    base, tuned = checkpoints
    with pytest.raises(LorascopeError, match="no shared linear layers"):
        analyze_checkpoints(base, tuned, targets=["nothing_like_this"])
    with pytest.raises(LorascopeError, match="no model.safetensors"):
        analyze_checkpoints(tmp_path, tuned)


def test_the_ranks_command_writes_the_config_and_the_spectra(checkpoints, tmp_path, capsys):
    from lorascope.cli.main import main

    base, tuned = checkpoints
    out = tmp_path / "ranks"
    code = main(
        [
            "ranks",
            "--base",
            str(base),
            "--finetuned",
            str(tuned),
            "--targets",
            "q_proj",
            "up_proj",
            "--energy",
            "0.99",
            "--min-r",
            "2",
            "--max-r",
            "16",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "model.layers.0.mlp.up_proj" in printed and "4 layers" in printed
    config = json.loads((out / "lora_rank_config.json").read_text())
    assert {n: layer["r"] for n, layer in config["layers"].items()} == {
        "model.layers.0.self_attn.q_proj": 3,
        "model.layers.1.self_attn.q_proj": 9,
        "model.layers.0.mlp.up_proj": 16,
        "model.layers.1.mlp.up_proj": 2,
    }
    assert config["settings"]["energy"] == 0.99 and config["checkpoints"]["base"] == str(base)
    raw = json.loads((out / "svd" / "singular_values.json").read_text())
    assert len(raw["model.layers.0.mlp.up_proj"]["singular_values"]) > 16
    for figure in ("decay.png", "r_raw_heatmap.png"):
        assert (out / "svd" / figure).read_bytes().startswith(b"\x89PNG")
    assert main(["ranks", "--base", str(base), "--finetuned", str(tuned), "--energy", "2"]) == 2
    assert "--energy: must be in (0, 1]" in capsys.readouterr().err


def test_global_counts_from_randomized_spectra_equal_the_exact_ones():
    """A mix of a planted low-rank update, slowly decaying and noise-like ones: every layer's
    r_global from the self-checking randomized search equals the exact SVD's."""
    from lorascope.ranks.analysis import analyze_layers, raw_ranks

    rng = np.random.default_rng(11)

    def spectrum(values, shape):
        u, _ = np.linalg.qr(rng.standard_normal((shape[0], len(values))))
        v, _ = np.linalg.qr(rng.standard_normal((shape[1], len(values))))
        return torch.from_numpy(u @ np.diag(values) @ v.T).float()

    deltas = {
        "layers.0.q": spectrum(np.linspace(2.0, 3.0, 8), (256, 256)) + 1e-3 * torch.randn(256, 256),
        "layers.0.v": spectrum((1.0 + np.arange(200)) ** -0.3 * 0.2, (256, 200)),
        "layers.1.q": torch.from_numpy(0.01 * rng.standard_normal((256, 256))).float(),
        "layers.1.v": spectrum(np.exp(-0.2 * np.arange(64)), (256, 200)),
    }

    def load(name):
        return torch.zeros_like(deltas[name]), deltas[name]

    for energy in (0.5, 0.9):
        fast = raw_ranks(analyze_layers(list(deltas), load, energy, "randomized", "global"), energy, "global")
        slow = raw_ranks(analyze_layers(list(deltas), load, energy, "exact", "global"), energy, "global")
        assert fast == slow
