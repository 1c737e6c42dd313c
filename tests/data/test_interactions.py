"""Interactions: MovieLens files and mapped CSVs, implicit feedback, k-core, the leave-one-out split."""

from collections import Counter

import pytest

from lorascope.data.interactions import implicit, k_core, leave_one_out, read_interactions, sequences
from lorascope.errors import LorascopeError
from tests.conftest import SHARED_DATA

MOVIELENS = SHARED_DATA / "movielens"


def test_a_mapped_csv_with_repeats_and_ties_gives_time_ordered_sequences(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("who,what,stars,when\nu1,a,5,10\nu1,b,4,20\nu1,c,3,20\nu1,a,2,30\nu2,b,1,5\n")
    rows = read_interactions(path, {"user": "who", "item": "what", "rating": "stars", "time": "when"})
    assert len(rows) == 5
    # b and c tie at time 20: file order; a seen again at 30 keeps its latest time only
    assert sequences(rows) == {"u1": ["b", "c", "a"], "u2": ["b"]}
    assert [r.item for r in implicit(rows, 4)] == ["a", "b"]
    assert len(implicit(rows, None)) == 5


def test_bad_files_name_the_file_and_line(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("who,what,when\nu1,a,10\nu1,b,noon\n")
    mapping = {"user": "who", "item": "what", "time": "when"}
    with pytest.raises(LorascopeError, match=r"log.csv, line 3: expected 3 fields"):
        read_interactions(path, mapping)
    with pytest.raises(LorascopeError, match=r"columns not in its header \(user: user_id\)"):
        read_interactions(path, mapping | {"user": "user_id"})
    with pytest.raises(LorascopeError, match="not a MovieLens file"):
        read_interactions(path)
    with pytest.raises(LorascopeError, match="no such file"):
        read_interactions(tmp_path / "missing.csv", mapping)


def test_k_core_leaves_every_user_and_item_with_k_interactions(tmp_path):
    path = tmp_path / "log.csv"
    lines = ["u,i,t"] + [f"u{u},i{i},{u * 10 + i}" for u in range(6) for i in range(6) if (u + i) % 3] + ["u9,i9,1"]
    path.write_text("\n".join(lines) + "\n")
    kept = k_core(read_interactions(path, {"user": "u", "item": "i", "time": "t"}), 3)
    users, items = Counter(r.user for r in kept), Counter(r.item for r in kept)
    assert min(users.values()) >= 3 and min(items.values()) >= 3 and "u9" not in users


def test_leave_one_out_holds_out_the_last_two_and_cuts_the_history():
    split = leave_one_out({"a": list("pqrst"), "b": list("xy"), "c": list("uvw")}, max_history=2)
    assert split.train == {"a": ["q", "r"], "c": ["u"]} and split.valid == {"a": "s", "c": "v"}
    assert split.test == {"a": "t", "c": "w"}  # b has too few items


@pytest.mark.parametrize("name", ["ml-100k/u.data", "ml-latest-small/ratings.csv"])
def test_movielens_split_keeps_time_order_and_no_test_item_in_training(name):
    path = MOVIELENS / name
    if not path.is_file():
        pytest.skip(f"MovieLens not found at {path} (see ../shared/data/README.md)")
    rows = read_interactions(path)
    assert len(rows) in (100_000, 100_836)
    users = sequences(k_core(implicit(rows, 4.0), 5))
    times = {(r.user, r.item): (r.time, r.order) for r in rows}
    split = leave_one_out(users)
    for user, history in split.train.items():
        assert split.test[user] not in history and split.test[user] != split.valid[user]
        order = [times[user, item] for item in [*history, split.valid[user], split.test[user]]]
        assert order == sorted(order)
    assert len(split.test) > 500
