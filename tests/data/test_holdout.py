"""``data.eval_split: holdout``: a stratified part of the training examples becomes the evaluation set."""

from __future__ import annotations

from collections import Counter

import pytest

from lorascope.config import parse_config
from lorascope.data.tasks import load_task_data
from lorascope.errors import LorascopeError
from tests.conftest import tiny_run_config


def data_for(**changes):
    return load_task_data(parse_config(tiny_run_config(data__synthetic_size=200, **changes)))


def test_the_holdout_is_a_stratified_disjoint_share_of_train():
    whole = data_for()
    split = data_for(data__eval_split="holdout", data__holdout=0.2)
    ids = lambda records: {r["id"] for r in records}  # noqa: E731
    assert len(split.eval) == 40 and len(split.train) == 160
    assert ids(split.train) | ids(split.eval) == ids(whole.train) and not ids(split.train) & ids(split.eval)
    share = lambda records: Counter(r["label"] for r in records)[1] / len(records)  # noqa: E731
    assert share(split.eval) == pytest.approx(share(whole.train), abs=1 / 40)


def test_a_count_works_like_a_share_and_the_seed_decides_which_examples():
    by_count = data_for(data__eval_split="holdout", data__holdout=40)
    assert len(by_count.eval) == 40
    again = data_for(data__eval_split="holdout", data__holdout=40)
    other = data_for(data__eval_split="holdout", data__holdout=40, data__sample_seed=9)
    assert [r["id"] for r in again.eval] == [r["id"] for r in by_count.eval]
    assert [r["id"] for r in other.eval] != [r["id"] for r in by_count.eval]


def test_the_holdout_comes_out_of_the_training_subset():
    split = data_for(max_train_samples=100, data__eval_split="holdout", data__holdout=0.25)
    assert (len(split.train), len(split.eval)) == (75, 25)


@pytest.mark.parametrize(("holdout", "message"), [(200, "holds out 200 of 200"), (2.5, "whole number")])
def test_an_impossible_holdout_is_refused(holdout, message):
    with pytest.raises(LorascopeError, match=message):
        data_for(data__eval_split="holdout", data__holdout=holdout)
