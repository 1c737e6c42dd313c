"""Windows of SQuAD questions: every gold answer of the shared subsets lies whole in some window
(also those cut by a window's edge), its labelled token span covers exactly its text, and the
padding side is the right one whatever the tokenizer says."""

from collections import defaultdict

import pytest
from transformers import AutoTokenizer, DataCollatorWithPadding

from lorascope.data.qa_windows import answer_characters, encode_windows, span_text
from lorascope.data.squad import read_squad
from lorascope.models.tiny import tiny_config_and_tokenizer
from tests.squad_reference import DEV, TRAIN

needs_squad = pytest.mark.skipif(not DEV.is_file(), reason=f"SQuAD v2 subsets not found at {DEV.parent}")


def covered(offsets, first, last):
    return offsets[first][0], offsets[last][1]


def check_windows(records, dataset):
    """Per gold answer: whole in a window, the covering tokens minimal, the text exact unless an end of
    the answer falls inside a token (then the text is the answer plus the rest of those tokens)."""
    by_question = defaultdict(list)
    for window, feature in zip(dataset.windows, dataset.features, strict=True):
        by_question[window.example].append((window, feature))
    cut_by_an_edge = inside_a_token = 0
    for i, record in enumerate(records):
        windows = by_question[i]
        assert windows, record["id"]
        for number, answer in enumerate(record["answers"]):
            start, end = answer_characters(answer)
            whole = []
            for window, feature in windows:
                context = [j for j, o in enumerate(window.offsets) if o is not None and o[1] > o[0]]
                overlapping = [j for j in context if window.offsets[j][0] < end and window.offsets[j][1] > start]
                if not overlapping:
                    continue
                first, last = overlapping[0], overlapping[-1]
                if window.offsets[context[0]][0] > start or window.offsets[context[-1]][1] < end:
                    cut_by_an_edge += 1  # part of it here: some other window must hold it whole
                    continue
                whole.append((window, feature, first, last))
            assert whole, f"{record['id']}: answer {answer['text']!r} is whole in no window"
            partial = False
            for window, feature, first, last in whole:
                low, high = covered(window.offsets, first, last)
                assert low <= start and high >= end  # the tokens cover the answer
                text = span_text(record["context"], window.offsets, first, last)
                if (low, high) == (start, end):
                    assert text == answer["text"].strip()
                else:
                    partial = True
                    assert answer["text"].strip() in text
                if number == 0:  # the training labels point at the first answer
                    assert (feature["start_positions"], feature["end_positions"]) == (first, last)
                    assert feature["answerable"] == 1.0
            inside_a_token += partial
        if not record["answers"]:
            assert all(f["answerable"] == 0.0 and f["start_positions"] == 0 for _, f in windows)
    return cut_by_an_edge, inside_a_token


def tokenizers(minilm):
    decoder = tiny_config_and_tokenizer("tiny-llama")[1]
    decoder.padding_side = "left"  # as Llama's tokenizers ship
    return {"minilm": (AutoTokenizer.from_pretrained(minilm), 128, 42), "decoder": (decoder, 512, 160)}


def run_check(path, which, minilm):
    tokenizer, max_length, stride = tokenizers(minilm)[which]
    records = read_squad(path)
    dataset = encode_windows(tokenizer, records, max_length, stride, 64)
    cut, inside = check_windows(records, dataset)
    assert tokenizer.padding_side == "right"
    batch = DataCollatorWithPadding(tokenizer)([dataset[0], dataset[1]])
    assert batch["attention_mask"][:, 0].all()  # padding, if any, on the right
    return len(records), len(dataset), cut, inside, sum(len(r["answers"]) for r in records)


@needs_squad
@pytest.mark.parametrize("which", ["minilm", "decoder"])
def test_every_dev_answer_maps_to_tokens_and_back(which, minilm):
    questions, windows, cut, inside, answers = run_check(DEV, which, minilm)
    assert windows > questions and cut > 0  # long contexts are cut, and answers at the edges exercised
    assert inside <= 0.01 * answers  # sub-word answers ("7" of "1817") are rare


@pytest.mark.slow
@needs_squad
@pytest.mark.parametrize("which", ["minilm", "decoder"])
def test_every_train_answer_maps_to_tokens_and_back(which, minilm):
    questions, windows, cut, inside, answers = run_check(TRAIN, which, minilm)
    assert windows > questions and cut > 0
    assert inside <= 0.01 * answers


def test_a_question_too_long_for_the_window_is_cut_and_a_window_too_small_refused():
    tokenizer = tiny_config_and_tokenizer("tiny-bert")[1]
    record = {"id": "q", "question": "x" * 100, "context": "abc def", "answers": [], "label": 0}
    dataset = encode_windows(tokenizer, [record], 100, 10, 20)
    assert sum(s == 0 for s in dataset.features[0]["token_type_ids"]) == 20 + 2  # [CLS] q[:20] [SEP]
    with pytest.raises(Exception, match="qa.doc_stride 40"):
        encode_windows(tokenizer, [record], 60, 40, 20)
