"""Reading SQuAD 2.0 JSON: the shared subsets whole, and one clear line for a broken file."""

import json

import pytest

from lorascope.data.squad import read_squad
from lorascope.errors import LorascopeError
from tests.squad_reference import DEV, TRAIN

needs_squad = pytest.mark.skipif(not DEV.is_file(), reason=f"SQuAD v2 subsets not found at {DEV.parent}")


def squad_file(tmp_path, paragraphs, name="train.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]}))
    return path


def question(qid, answers=(), question_text="Who?"):
    return {"id": qid, "question": question_text, "answers": list(answers), "is_impossible": not answers}


@needs_squad
def test_the_shared_subsets_read_whole_with_their_answerability():
    for path, total, unanswerable in ((TRAIN, 5147, 348), (DEV, 706, 320)):
        records = read_squad(path)
        document = json.loads(path.read_text(encoding="utf-8"))
        ids = [qa["id"] for a in document["data"] for p in a["paragraphs"] for qa in p["qas"]]
        assert [r["id"] for r in records] == ids and len(ids) == total
        assert sum(r["label"] == 0 for r in records) == unanswerable
        for r in records:
            assert r["label"] == int(bool(r["answers"]))
            for a in r["answers"]:
                assert r["context"][a["answer_start"] : a["answer_start"] + len(a["text"])] == a["text"]


def test_a_good_file_reads_as_records(tmp_path):
    context = "Rollo led the Normans."
    path = squad_file(
        tmp_path,
        [{"context": context, "qas": [question("q1", [{"text": "Rollo", "answer_start": 0}]), question("q2")]}],
    )
    assert read_squad(path) == [
        {
            "id": "q1",
            "question": "Who?",
            "context": context,
            "answers": [{"text": "Rollo", "answer_start": 0}],
            "label": 1,
        },
        {"id": "q2", "question": "Who?", "context": context, "answers": [], "label": 0},
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"version": "v2.0"}, r"train\.json: not a SQuAD file \(no 'data' list"),
        ([1, 2], r"train\.json: not a SQuAD file"),
        ({"data": [{"title": "t"}]}, r"data\[0\] has no 'paragraphs' list"),
        ({"data": [{"paragraphs": [{"qas": []}]}]}, r"data\[0\]\.paragraphs\[0\]: no 'context' string"),
    ],
)
def test_a_json_that_is_not_squad_shaped_is_named(tmp_path, content, message):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(content))
    with pytest.raises(LorascopeError, match=message):
        read_squad(path)


def test_an_answer_that_is_not_the_context_at_its_start_names_file_and_question(tmp_path):
    path = squad_file(
        tmp_path,
        [{"context": "Rollo led the Normans.", "qas": [question("q7", [{"text": "Normans", "answer_start": 3}])]}],
    )
    with pytest.raises(LorascopeError) as caught:
        read_squad(path)
    message = str(caught.value)
    assert str(path) in message and "question q7" in message and "answer_start 3" in message
    assert "\n" not in message


def test_an_empty_context_names_file_and_question(tmp_path):
    path = squad_file(tmp_path, [{"context": "  ", "qas": [question("q9")]}])
    with pytest.raises(LorascopeError, match=r"train\.json: data\[0\]\.paragraphs\[0\], question q9: empty context"):
        read_squad(path)


@pytest.mark.parametrize(
    ("qa", "message"),
    [
        ({"question": "Who?", "answers": []}, "a question has no 'id'"),
        ({"id": "q1", "answers": []}, "question q1: no 'question' text"),
        ({"id": "q1", "question": "Who?", "answers": [{"text": "Rollo"}]}, "no whole-number 'answer_start'"),
        ({"id": "q1", "question": "Who?", "answers": [], "is_impossible": False}, "is_impossible is false"),
        (
            {"id": "q1", "question": "Who?", "answers": [{"text": "Rollo", "answer_start": 0}], "is_impossible": True},
            "is_impossible is true but it has 1 answer",
        ),
    ],
)
def test_broken_questions_are_named(tmp_path, qa, message):
    path = squad_file(tmp_path, [{"context": "Rollo led the Normans.", "qas": [qa]}])
    with pytest.raises(LorascopeError, match=message):
        read_squad(path)


def test_a_repeated_question_id_and_bad_json_are_refused(tmp_path):
    path = squad_file(tmp_path, [{"context": "Rollo led.", "qas": [question("q1"), question("q1")]}])
    with pytest.raises(LorascopeError, match="question id q1 appears twice"):
        read_squad(path)
    path.write_text('{"data": [\n  oops')
    with pytest.raises(LorascopeError, match=r"train\.json line 2: not JSON"):
        read_squad(path)


def test_the_hub_layout_reads_as_the_same_records(tmp_path):
    pytest.importorskip("datasets")
    from lorascope.data.squad import load_hub

    context = "Rollo led the Normans."
    rows = {
        "train": [
            {
                "id": "t1",
                "title": "N",
                "context": context,
                "question": "Who?",
                "answers": {"text": ["Rollo"], "answer_start": [0]},
            }
        ],
        "validation": [
            {
                "id": "v1",
                "title": "N",
                "context": context,
                "question": "Whom?",
                "answers": {"text": [], "answer_start": []},
            }
        ],
    }
    for split, items in rows.items():
        (tmp_path / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in items))
    train, dev = load_hub(str(tmp_path))
    assert train == [
        {
            "id": "t1",
            "question": "Who?",
            "context": context,
            "answers": [{"text": "Rollo", "answer_start": 0}],
            "label": 1,
        }
    ]
    assert dev[0]["label"] == 0 and dev[0]["answers"] == []


def test_the_hub_out_of_reach_suggests_local_files():
    pytest.importorskip("datasets")
    from lorascope.data.squad import load_hub

    with pytest.raises(LorascopeError, match="give data.train_file and data.eval_file"):
        load_hub("rajpurkar/squad_v2")
