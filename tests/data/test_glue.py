from collections import Counter

import pytest

from lorascope.config import parse_config
from lorascope.data import glue
from lorascope.data.tasks import load_task_data
from lorascope.errors import LorascopeError


@pytest.mark.parametrize(
    ("task", "train_rows", "dev_rows"),
    [("sst2", 67349, 872), ("mrpc", 3668, 408), ("rte", 2490, 277), ("stsb", 5749, 1500)],
)
def test_real_glue_folders_read_completely(glue_dir, task, train_rows, dev_rows):
    data = load_task_data(parse_config({"model": "tiny-bert", "task": task, "data_dir": str(glue_dir)}))
    assert (len(data.train), len(data.eval)) == (train_rows, dev_rows)
    assert len({r["id"] for r in data.train}) == train_rows
    first = data.train[0]
    if task == "stsb":
        assert first["label"] == 5.0 and first["text"] == "A plane is taking off."
    else:
        assert set(Counter(r["label"] for r in data.train)) == {0, 1}
    if task == "mrpc":  # quotes are literal in GLUE TSV
        assert data.eval[0]["text_pair"].startswith('"The foodservice pie business')
    if task == "rte":  # entailment → 0, as the hub's nyu-mll/glue
        assert first["label"] == 1 and first["text_pair"] == "Weapons of Mass Destruction Found in Iraq."


def test_stratified_subset_keeps_label_shares(glue_dir):
    cfg = parse_config({"model": "tiny-bert", "task": "sst2", "data_dir": str(glue_dir), "max_train_samples": 2000})
    full = load_task_data(cfg.model_copy(update={"max_train_samples": None}))
    subset = load_task_data(cfg)
    share = sum(r["label"] for r in full.train) / len(full.train)
    assert len(subset.train) == 2000
    assert abs(sum(r["label"] for r in subset.train) - 2000 * share) <= 1
    assert [r["id"] for r in subset.train] == [r["id"] for r in load_task_data(cfg).train]


def test_stsb_subset_is_stratified_by_score_bins(glue_dir):
    cfg = parse_config({"model": "m", "task": "stsb", "data_dir": str(glue_dir), "max_eval_samples": 300})
    data = load_task_data(cfg)
    whole = load_task_data(cfg.model_copy(update={"max_eval_samples": None}))
    bins = lambda rs: Counter(min(int(r["label"]), 4) for r in rs)  # noqa: E731
    for key, count in bins(whole.eval).items():
        assert abs(bins(data.eval)[key] - 300 * count / 1500) <= 1


def test_malformed_row_names_file_and_line(tmp_path):
    folder = tmp_path / "SST-2"
    folder.mkdir()
    (folder / "train.tsv").write_text("sentence\tlabel\ngood film\t1\nbroken row without label\n")
    (folder / "dev.tsv").write_text("sentence\tlabel\nok\t1\n")
    with pytest.raises(LorascopeError, match=r"train\.tsv line 3: 1 fields, expected 2"):
        glue.load_local("sst2", tmp_path, regression=False)


def test_missing_data_dir_is_reported(tmp_path):
    with pytest.raises(LorascopeError, match="data_dir: folder not found"):
        glue.load_local("rte", tmp_path / "nope", regression=False)


def test_hub_unreachable_offline_suggests_data_dir():
    pytest.importorskip("datasets")
    with pytest.raises(LorascopeError, match="set data_dir to a local GLUE folder"):
        glue.load_hub("rte", "nyu-mll/glue")


@pytest.mark.parametrize(
    "train, message",
    [
        (b"sentence\tlabel\n", r"train\.tsv: no examples \(a header at most\)"),
        (b"sentence\tlabel\ngood\t1\nbad \xe9\t0\n", r"train\.tsv line 3: not UTF-8 text \(byte 0xe9\)"),
    ],
)
def test_a_tsv_without_examples_or_not_utf8_names_the_file(tmp_path, train, message):
    folder = tmp_path / "SST-2"
    folder.mkdir()
    (folder / "train.tsv").write_bytes(train)
    (folder / "dev.tsv").write_text("sentence\tlabel\nok\t1\n")
    with pytest.raises(LorascopeError, match=message):
        glue.load_local("sst2", tmp_path, regression=False)
