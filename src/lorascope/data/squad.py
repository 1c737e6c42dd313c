"""SQuAD 2.0 questions from the official JSON files (full or subsets) or the hub's ``squad_v2``.

A record is one question: ``id``, ``question``, ``context``, ``answers`` (the gold answers as
``{"text", "answer_start"}``; none for an unanswerable question) and ``label`` (1 answerable,
0 not), the stratum of subsets and holdouts. Every answer must be the text of the context at its
``answer_start``: a shifted offset would train the span head on the wrong tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

from lorascope.data import hub
from lorascope.data.files import read_text
from lorascope.errors import LorascopeError

Record = dict[str, object]

OFFICIAL_FILES = ("train-v2.0.json", "dev-v2.0.json")  # the names of the official downloads, in data_dir


def _checked_answers(answers: object, context: str, where: str) -> list[dict[str, object]]:
    if not isinstance(answers, list):
        raise LorascopeError(f"{where}: 'answers' is not a list")
    checked = []
    for number, answer in enumerate(answers):
        if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
            raise LorascopeError(f"{where}: answer {number} has no 'text' string")
        start, text = answer.get("answer_start"), answer["text"]
        if not isinstance(start, int) or isinstance(start, bool):
            raise LorascopeError(f"{where}: answer {number} has no whole-number 'answer_start'")
        if not text.strip():
            raise LorascopeError(f"{where}: answer {number} is empty")
        found = context[start : start + len(text)] if start >= 0 else ""
        if found != text:
            raise LorascopeError(
                f"{where}: answer {number} {text[:40]!r} is not the context's text at answer_start {start} "
                f"({found[:40]!r})"
            )
        checked.append({"text": text, "answer_start": start})
    return checked


def _question(qa: object, context: str, where: str) -> Record:
    if not isinstance(qa, dict):
        raise LorascopeError(f"{where}: a question is not an object")
    qid = qa.get("id")
    if not isinstance(qid, str) or not qid:
        raise LorascopeError(f"{where}: a question has no 'id'")
    where = f"{where}, question {qid}"
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        raise LorascopeError(f"{where}: no 'question' text")
    if not context.strip():
        raise LorascopeError(f"{where}: empty context")
    answers = _checked_answers(qa.get("answers", []), context, where)
    impossible = qa.get("is_impossible", not answers)
    if not isinstance(impossible, bool):
        raise LorascopeError(f"{where}: 'is_impossible' is not true or false")
    if impossible and answers:
        raise LorascopeError(f"{where}: is_impossible is true but it has {len(answers)} answer(s)")
    if not impossible and not answers:
        raise LorascopeError(f"{where}: is_impossible is false but it has no answers")
    return {"id": qid, "question": question, "context": context, "answers": answers, "label": int(bool(answers))}


def read_squad(path: Path) -> list[Record]:
    """The questions of a SQuAD 2.0 JSON file, in file order; a problem names the file and question."""
    if not path.is_file():
        raise LorascopeError(f"SQuAD file not found: {path}")
    try:
        document = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise LorascopeError(f"{path} line {exc.lineno}: not JSON ({exc.msg})") from None
    articles = document.get("data") if isinstance(document, dict) else None
    if not isinstance(articles, list):
        raise LorascopeError(f"{path}: not a SQuAD file (no 'data' list of articles)")
    records: list[Record] = []
    seen: set[str] = set()
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise LorascopeError(f"{path}: data[{a}] has no 'paragraphs' list (not a SQuAD file)")
        for p, paragraph in enumerate(paragraphs):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str):
                raise LorascopeError(f"{where}: no 'context' string (not a SQuAD file)")
            if not isinstance(paragraph.get("qas"), list):
                raise LorascopeError(f"{where}: no 'qas' list (not a SQuAD file)")
            for qa in paragraph["qas"]:
                record = _question(qa, paragraph["context"], where)
                if record["id"] in seen:
                    raise LorascopeError(f"{where}: question id {record['id']} appears twice")
                seen.add(str(record["id"]))
                records.append(record)
    if not records:
        raise LorascopeError(f"{path}: no questions")
    return records


def load_local(data_dir: Path) -> tuple[list[Record], list[Record]]:
    """Train and dev questions from the official ``train-v2.0.json`` and ``dev-v2.0.json`` in ``data_dir``."""
    if not data_dir.is_dir():
        raise LorascopeError(f"data_dir: folder not found: {data_dir}")
    train, dev = (data_dir / name for name in OFFICIAL_FILES)
    return read_squad(train), read_squad(dev)


def load_hub(hub_dataset: str) -> tuple[list[Record], list[Record]]:
    """Train and validation questions of the hub's SQuAD 2.0 (honours ``HF_HUB_OFFLINE`` and the cache)."""
    splits = hub.load_dataset("squad_v2", hub_dataset, None, "give data.train_file and data.eval_file (SQuAD JSON)")

    def records(split: str) -> list[Record]:
        out = []
        for row in splits[split]:
            answers = [
                {"text": t, "answer_start": s}
                for t, s in zip(row["answers"]["text"], row["answers"]["answer_start"], strict=True)
            ]
            qa = {"id": row["id"], "question": row["question"], "answers": answers}
            out.append(_question(qa, row["context"], f"{hub_dataset} {split}"))
        return out

    return records("train"), records("validation")
