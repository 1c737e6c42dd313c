import json

import pytest

from lorascope.config import parse_config
from lorascope.data.tasks import load_task_data
from lorascope.errors import LorascopeError


def test_csv_and_jsonl_with_column_mapping(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text('review,stars,uid\n"great, really",pos,a\nawful,neg,b\nfine,pos,c\n')
    dev = tmp_path / "dev.jsonl"
    dev.write_text("\n".join(json.dumps({"review": t, "stars": s}) for t, s in [("nice", "pos"), ("bad", "neg")]))
    cfg = parse_config(
        {
            "model": "tiny-bert",
            "task": "text-classification",
            "data": {
                "train_file": str(train),
                "eval_file": str(dev),
                "columns": {"text": "review", "label": "stars", "id": "uid"},
            },
        }
    )
    data = load_task_data(cfg)
    assert data.task.label_names == ("neg", "pos") and data.task.num_labels == 2
    assert data.train[0] == {"text": "great, really", "label": 1, "id": "a"}
    assert [r["label"] for r in data.eval] == [1, 0] and data.eval[1]["id"] == "1"


def test_glue_task_from_files_uses_glue_column_names(tmp_path):
    rows = [{"sentence1": "a", "sentence2": "b", "label": 2.5, "idx": 7}]
    for name in ("t.jsonl", "d.jsonl"):
        (tmp_path / name).write_text(json.dumps(rows[0]) + "\n")
    cfg = parse_config(
        {
            "model": "m",
            "task": "stsb",
            "data": {"train_file": str(tmp_path / "t.jsonl"), "eval_file": str(tmp_path / "d.jsonl")},
        }
    )
    data = load_task_data(cfg)
    assert data.train == [{"text": "a", "text_pair": "b", "label": 2.5, "id": 7}]


def files_config(train, evaluation, task="text-classification", **extra):
    return parse_config(
        {"model": "m", "task": task, "data": {"train_file": str(train), "eval_file": str(evaluation)}} | extra
    )


def test_missing_column_names_file_line_and_field(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\nhello,1\n,0\n")
    (tmp_path / "d.csv").write_text("text,label\nhi,1\n")
    cfg = files_config(tmp_path / "t.csv", tmp_path / "d.csv")
    with pytest.raises(LorascopeError, match=r"t\.csv line 3: missing column 'text' \(field 'text'\)"):
        load_task_data(cfg)


def test_bad_json_line_is_named(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"text": "a", "label": 1}\n{oops\n')
    cfg = files_config(tmp_path / "t.jsonl", tmp_path / "t.jsonl")
    with pytest.raises(LorascopeError, match=r"t\.jsonl line 2: invalid JSON"):
        load_task_data(cfg)


def test_numeric_labels_sort_as_numbers_and_regression_bins_follow_the_range(tmp_path):
    rows = [{"text": f"t{i}", "label": label} for i, label in enumerate(["10", "2", "2", "10", "1"])]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    data = load_task_data(files_config(tmp_path / "c.jsonl", tmp_path / "c.jsonl"))
    assert data.task.label_names == ("1", "2", "10")
    assert data.task.metric_names == ("accuracy",)  # binary F1 is undefined for 3 classes

    scores = [{"text": f"t{i}", "label": float(i)} for i in range(100)]  # 0..99, far outside 0-5
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in scores))
    cfg = files_config(tmp_path / "r.jsonl", tmp_path / "r.jsonl", "text-regression", max_train_samples=10)
    picked = sorted(r["label"] for r in load_task_data(cfg).train)
    assert [sum(20 * k <= s < 20 * (k + 1) for s in picked) for k in range(5)] == [2, 2, 2, 2, 2]


@pytest.mark.parametrize("bad", ["nan", "inf", "-Infinity"])
def test_a_score_that_is_not_finite_is_refused(tmp_path, bad):
    lines = ["text,label", "good,1.5", f"bad,{bad}"]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    cfg = files_config(tmp_path / "r.csv", tmp_path / "r.csv", "text-regression")
    with pytest.raises(
        LorascopeError, match=rf"label {bad!r} is not a finite number|label {float(bad)!r} is not a finite"
    ):
        load_task_data(cfg)


def test_csv_line_numbers_count_blank_lines(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\n\nhello,1\n\n\n,0\n")  # the bad row is on line 6
    (tmp_path / "d.csv").write_text("text,label\nhi,1\n")
    with pytest.raises(LorascopeError, match=r"t\.csv line 6: missing column 'text'"):
        load_task_data(files_config(tmp_path / "t.csv", tmp_path / "d.csv"))


def test_a_bad_label_is_named_by_file_and_line(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\na,0\nb,1\n")
    (tmp_path / "d.csv").write_text("text,label\nc,1\n\nd,maybe\n")
    with pytest.raises(LorascopeError, match=r"d\.csv line 4: label 'maybe' is not one of \['0', '1'\]"):
        load_task_data(files_config(tmp_path / "t.csv", tmp_path / "d.csv"))
