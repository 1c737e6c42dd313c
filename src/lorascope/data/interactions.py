"""User–item interactions for next-item recommendation: MovieLens ``u.data`` (ml-100k),
``ratings.csv`` (ml-latest-small and later), or any delimited file with a column mapping; implicit
feedback from ratings, k-core filtering, time-ordered sequences and the leave-one-out split.

The split follows the field's convention (SASRec, BERT4Rec, RecBole): each user's interactions in
time order (ties kept in file order), the last item the test target, the second-to-last the
validation target, the rest the training sequence; a user and item seen again keeps its latest
interaction only, so no test item is in its user's training sequence.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lorascope.errors import LorascopeError

# MovieLens layouts, by file name: (delimiter, header, columns in order)
KNOWN = {
    "u.data": ("\t", False, ("user", "item", "rating", "time")),
    "ratings.csv": (",", True, ("userId", "movieId", "rating", "timestamp")),
}
ROLES = ("user", "item", "rating", "time")


@dataclass(frozen=True)
class Interaction:
    user: str
    item: str
    rating: float
    time: float
    order: int  # the line it came from: breaks ties in time


def read_interactions(
    path: Path | str, columns: dict[str, str] | None = None, delimiter: str | None = None
) -> list[Interaction]:
    """Every interaction of ``path``. MovieLens files are recognised by name; any other file needs a
    header and ``columns`` mapping the roles user, item, rating (optional: every row counts as 1.0)
    and time to its column names. Errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise LorascopeError(f"{path}: no such file")
    known = KNOWN.get(path.name)
    if columns is None and known is None:
        raise LorascopeError(f"{path}: not a MovieLens file (u.data, ratings.csv): give the column mapping")
    with path.open(encoding="utf-8", errors="replace", newline="") as file:
        if known is not None and columns is None:
            sep, header, names = known
            reader = csv.reader(file, delimiter=sep)
            if header:
                next(reader, None)
            mapping = dict(zip(ROLES, range(4), strict=True))
            first_line = 2 if header else 1
        else:
            reader = csv.reader(file, delimiter=delimiter or ("\t" if path.suffix == ".tsv" else ","))
            head = next(reader, None) or []
            missing = [f"{role}: {name}" for role, name in columns.items() if name not in head]
            if missing or not {"user", "item", "time"} <= set(columns):
                need = ", ".join(missing) or "user, item and time must be mapped"
                raise LorascopeError(f"{path}: columns not in its header ({need}); header: {head}")
            mapping = {role: head.index(name) for role, name in columns.items()}
            first_line = 2
        rows = []
        for number, fields in enumerate(reader, start=first_line):
            if not fields or not "".join(fields).strip():
                continue
            try:
                rating = float(fields[mapping["rating"]]) if "rating" in mapping else 1.0
                time = float(fields[mapping["time"]])
                rows.append(Interaction(fields[mapping["user"]], fields[mapping["item"]], rating, time, number))
            except (IndexError, ValueError):
                raise LorascopeError(f"{path}, line {number}: expected {len(mapping)} fields with a number for rating "
                                     f"and time, got {fields!r}") from None  # fmt: skip
    if not rows:
        raise LorascopeError(f"{path}: no interactions")
    return rows


def implicit(interactions: list[Interaction], threshold: float | None) -> list[Interaction]:
    """Interactions rated at least ``threshold`` (None: every interaction counts)."""
    return [i for i in interactions if threshold is None or i.rating >= threshold]


def k_core(interactions: list[Interaction], k: int) -> list[Interaction]:
    """The largest subset in which every user and every item has at least ``k`` interactions
    (filtering users and items in turn until neither changes)."""
    kept = interactions
    while True:
        users = Counter(i.user for i in kept)
        items = Counter(i.item for i in kept)
        pruned = [i for i in kept if users[i.user] >= k and items[i.item] >= k]
        if len(pruned) == len(kept):
            return pruned
        kept = pruned


def sequences(interactions: list[Interaction]) -> dict[str, list[str]]:
    """Each user's items in time order (ties in file order), an item seen again at its latest time."""
    latest: dict[tuple[str, str], Interaction] = {}
    for i in interactions:
        key = (i.user, i.item)
        if key not in latest or (i.time, i.order) > (latest[key].time, latest[key].order):
            latest[key] = i
    by_user: dict[str, list[Interaction]] = {}
    for i in latest.values():
        by_user.setdefault(i.user, []).append(i)
    return {user: [i.item for i in sorted(rows, key=lambda i: (i.time, i.order))] for user, rows in by_user.items()}


@dataclass(frozen=True)
class Split:
    """Leave-one-out: per user, the training sequence, the validation target and the test target.
    At validation the model sees ``train``; at test ``train + [valid]``."""

    train: dict[str, list[str]]
    valid: dict[str, str]
    test: dict[str, str]


def leave_one_out(user_sequences: dict[str, list[str]], max_history: int | None = None) -> Split:
    """The last item of each user for test, the one before for validation, the rest (its last
    ``max_history`` items) for training. Users with fewer than 3 items are left out."""
    train, valid, test = {}, {}, {}
    for user, items in user_sequences.items():
        if len(items) < 3:
            continue
        history = items[:-2]
        train[user] = history[-max_history:] if max_history else history
        valid[user], test[user] = items[-2], items[-1]
    return Split(train, valid, test)


class ItemIndex:
    """Items as ids 1..n in order of first appearance; 0 is padding (never a candidate)."""

    def __init__(self, user_sequences: dict[str, list[str]]):
        self.ids: dict[str, int] = {}
        for items in user_sequences.values():
            for item in items:
                self.ids.setdefault(item, len(self.ids) + 1)
        self.items = ["<pad>", *self.ids]

    def __len__(self) -> int:
        return len(self.items)  # with padding: the width of a score matrix

    def encode(self, items: list[str]) -> list[int]:
        return [self.ids[i] for i in items]
