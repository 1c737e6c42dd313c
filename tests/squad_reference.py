"""An independent implementation of the official SQuAD 2.0 evaluate-v2.0.py's rules, written from
the script's description (percentages, dataset JSON in, one pass per rule), for tests to score
lorascope's predictions against."""

import collections
import re
import string
from pathlib import Path

SQUAD_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "squad_v2"
DEV = SQUAD_DIR / "dev-v2.0.Normans+Rhine.json"
TRAIN = SQUAD_DIR / "train-v2.0.first11articles.json"


def official(dataset: list[dict], preds: dict[str, str], na_probs: dict[str, float] | None, thresh: float = 1.0):
    """The official script's steps: normalise, raw scores, no-answer threshold, averages, best threshold."""

    def norm(s):
        s = s.lower()
        s = "".join(ch for ch in s if ch not in set(string.punctuation))
        s = re.sub(re.compile(r"\b(a|an|the)\b", re.UNICODE), " ", s)
        return " ".join(s.split())

    def tokens(s):
        return norm(s).split() if s else []

    def f1(gold, pred):
        g, p = tokens(gold), tokens(pred)
        same = sum((collections.Counter(g) & collections.Counter(p)).values())
        if len(g) == 0 or len(p) == 0:
            return int(g == p)
        if same == 0:
            return 0
        precision, recall = same / len(p), same / len(g)
        return 2 * precision * recall / (precision + recall)

    has_ans = {qa["id"]: bool(qa["answers"]) for a in dataset for p in a["paragraphs"] for qa in p["qas"]}
    exact_raw, f1_raw = {}, {}
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                golds = [a["text"] for a in qa["answers"] if norm(a["text"])] or [""]
                exact_raw[qa["id"]] = max(int(norm(g) == norm(preds[qa["id"]])) for g in golds)
                f1_raw[qa["id"]] = max(f1(g, preds[qa["id"]]) for g in golds)
    probs = na_probs if na_probs is not None else {k: 0.0 for k in preds}

    def apply(scores):
        return {q: float(not has_ans[q]) if probs[q] > thresh else s for q, s in scores.items()}

    exact, f1s = apply(exact_raw), apply(f1_raw)
    out = {"exact": 100.0 * sum(exact.values()) / len(exact), "f1": 100.0 * sum(f1s.values()) / len(f1s)}
    for name, ids in (
        ("HasAns", [q for q in has_ans if has_ans[q]]),
        ("NoAns", [q for q in has_ans if not has_ans[q]]),
    ):
        if ids:
            out[f"{name}_exact"] = 100.0 * sum(exact[q] for q in ids) / len(ids)
            out[f"{name}_f1"] = 100.0 * sum(f1s[q] for q in ids) / len(ids)
    if na_probs is not None:
        for name, raw in (("exact", exact_raw), ("f1", f1_raw)):
            cur = best = sum(1 for q in has_ans if not has_ans[q])
            best_thresh = 0.0
            for q in sorted(probs, key=lambda k: probs[k]):
                diff = raw[q] if has_ans[q] else (-1 if preds[q] else 0)
                cur += diff
                if cur > best:
                    best, best_thresh = cur, probs[q]
            out[f"best_{name}"], out[f"best_{name}_thresh"] = 100.0 * best / len(raw), best_thresh
    return out
