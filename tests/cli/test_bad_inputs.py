"""A corpus of bad inputs across every command: each gets exit status 2, one line starting
``error:`` that names the key, file or line at fault, and leaves the working folder as it was."""

import shutil
from pathlib import Path

import pytest

from lorascope.cli.main import main

RUN = "model: tiny-bert\ntask: synthetic\ndata:\n  synthetic_size: 64\ntrain:\n  max_steps: 2\n"
STUDY = "base: run.yaml\ngrid:\n  seed: [0]\nmethods:\n  full: {method: full}\n  lora: {method: lora}\n"
LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "study-48d3789"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    files = {
        "run.yaml": RUN,
        "dup.yaml": RUN + "data:\n  synthetic_size: 32\n",
        "study.yaml": STUDY,
        "escape.yaml": "name: ../elsewhere\n" + STUDY,
        "twice.yaml": STUDY + "  full: {method: lora}\n",
        "badmin.yaml": STUDY + "sanity: {mode: warn, min_score: 2}\n",
        "http-only.yaml": "base: tiny-llama\nhttp:\n  targets:\n    a: {models: [x]}\n",
        "missing-adapter.yaml": "base: tiny-llama\nadapters:\n  - {name: a, path: no/such/adapter}\n",
        "qa.yaml": "model: tiny-bert\ntask: squad_v2\ndata: {train_file: train.json, eval_file: dev.json}\n",
        "train.json": '{"data": [{"paragraphs": [{"context": "Rollo led.", "qas": [{"id": "q1", "question": "Who?", '
        '"answers": [{"text": "Rollo", "answer_start": 0}]}]}]}]}',
        "dev.json": '{"data": [{"paragraphs": [{"context": "Rollo led.", "qas": [{"id": "q2", "question": "Who?", '
        '"answers": [{"text": "led", "answer_start": 0}]}]}]}]}',
        "empty.json": '{"data": [{"paragraphs": [{"context": "", "qas": [{"id": "q3", "question": "Who?", "answers": []}]}]}]}',
        "notsquad.json": '{"version": "v2.0", "articles": []}',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "latin1.yaml").write_bytes(b"model: tiny-bert\ntask: caf\xe9\n")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "notes.txt").write_text("mine")
    (tmp_path / "a-file").write_text("x")
    legacy = shutil.copytree(LEGACY, tmp_path / "legacy")
    next(legacy.glob("runs/*/error.json")).write_text('{"label": "torn')  # a kill mid-write
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


CASES = [
    (["train", "dup.yaml"], "dup.yaml line 7: invalid YAML: duplicate key 'data' (first on line 3)"),
    (["validate", "latin1.yaml"], "latin1.yaml line 2: not UTF-8 text (byte 0xe9)"),
    (["train", "run.yaml", "seed=-1"], "seed: Input should be greater than or equal to 0 (got -1)"),
    (["train", "run.yaml", "train.epochs=.inf"], "train.epochs: Input should be a finite number"),
    (["train", "run.yaml", "train.learning_rate=.nan"], "train.learning_rate: Input should be a finite number"),
    (["train", "run.yaml", "lora..r=4"], "override 'lora..r=4': 'lora..r' has an empty part"),
    (["train", "run.yaml", "train.max_length=4096"], "train.max_length: 4096 is more than the 512 positions"),
    (["train", "run.yaml", "--out", "project"], "--out project: not empty and not a run folder"),
    (["train", "run.yaml", "--out", "a-file/run"], "a-file/run: Not a directory"),
    (["study", "escape.yaml"], "escape.yaml: name: '../elsewhere' is not a folder name"),
    (["study", "twice.yaml"], "twice.yaml line 7: invalid YAML: duplicate key 'full' (first on line 5)"),
    (["study", "badmin.yaml"], "badmin.yaml: sanity.min_score: Input should be less than or equal to 1"),
    (["tune", "escape.yaml"], "escape.yaml: name: '../elsewhere' is not a folder name"),
    (["sanity", "dup.yaml"], "dup.yaml line 7: invalid YAML: duplicate key 'data'"),
    (["ranks", "latin1.yaml"], "latin1.yaml line 2: not UTF-8 text"),
    (["drift", "no-such-run"], "no-such-run: no config.yaml (not a run folder)"),
    (["report", "project"], "project: not a study folder (no plan.json)"),
    (["results", "legacy"], "error.json line 1: invalid JSON"),
    (["serve-export", "project"], "project: the run did not finish (no results.json)"),
    (["train", "qa.yaml"], "dev.json: data[0].paragraphs[0], question q2: answer 0 'led' is not the context's text"),
    (
        ["validate", "qa.yaml", "data.eval_file=empty.json"],
        "empty.json: data[0].paragraphs[0], question q3: empty context",
    ),
    (["train", "qa.yaml", "data.train_file=notsquad.json"], "notsquad.json: not a SQuAD file (no 'data' list"),
    (["train", "qa.yaml", "train.max_length=80"], "train.max_length 80 leaves too few context tokens per window"),
    (["serve-bench", "http-only.yaml"], "--backend peft: the workload has no adapters or random_adapters"),
    (["serve-bench", "missing-adapter.yaml"], "missing-adapter.yaml: adapters[0].path: no/such/adapter not found"),
]


@pytest.mark.parametrize("argv, expected", CASES, ids=[" ".join(argv) for argv, _ in CASES])
def test_a_bad_input_is_one_line_exit_2_and_changes_nothing(workdir, capsys, argv, expected):
    before = snapshot(workdir)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
    assert snapshot(workdir) == before  # nothing written, nothing deleted
