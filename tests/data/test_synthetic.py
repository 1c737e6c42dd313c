from collections import Counter

from lorascope.data.synthetic import NEGATIVE, POSITIVE, make_examples, true_label


def test_labels_follow_the_rule_and_never_tie():
    examples = make_examples(500, seed=0)
    for record in examples:
        words = record["text"].split()
        pos, neg = sum(w in POSITIVE for w in words), sum(w in NEGATIVE for w in words)
        assert pos != neg
        assert record["label"] == int(pos > neg) == true_label(record["text"])
    shares = Counter(r["label"] for r in examples)
    assert 0.4 < shares[1] / 500 < 0.6


def test_reproducible_from_seed():
    assert make_examples(20, seed=4) == make_examples(20, seed=4)
    assert make_examples(20, seed=4) != make_examples(20, seed=5)
