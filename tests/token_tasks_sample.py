"""Small, learnable generated data in the real formats: CoNLL sentences with entities, SQuAD questions.

Names, places and organisations are drawn from short lists and put into
sentence templates, so a model can learn them in a short run; the tests that
use them show the pipeline learns, not that a model is good.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

PEOPLE = ["Angela Merkel", "Barack Obama", "Marie Curie", "Ada Lovelace", "Alan Turing", "Nelson Mandela",
          "Frida Kahlo", "Pablo Picasso", "Greta Thunberg", "Isaac Newton"]
PLACES = ["Paris", "Berlin", "New York", "Tokyo", "Cape Town", "Buenos Aires", "Oslo", "Cairo", "Lima", "Zürich"]
ORGS = ["Google", "the United Nations", "Siemens", "the Red Cross", "Toyota", "NASA", "UNESCO", "Nestlé"]
MONTHS = ["January", "March", "May", "July", "September", "November"]
TEMPLATES = [
    "{PER} visited {LOC} in {MONTH} .",
    "{PER} works for {ORG} in {LOC} .",
    "In {MONTH} , {ORG} opened an office in {LOC} .",
    "{PER} met {PER2} at {ORG} .",
    "The weather in {LOC} was cold .",
]


def _tagged(phrase: str, kind: str | None) -> list[tuple[str, str]]:
    words = phrase.split()
    if kind is None:
        return [(w, "O") for w in words]
    lead = 1 if words[0] == "the" else 0  # "the United Nations": "the" is not part of the name
    return [(w, "O") for w in words[:lead]] + [
        (w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(words[lead:])]


def tagged_sentences(n: int, seed: int = 0) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        template = rng.choice(TEMPLATES)
        per, per2 = rng.sample(PEOPLE, 2)
        fill = {"PER": (per, "PER"), "PER2": (per2, "PER"), "LOC": (rng.choice(PLACES), "LOC"),
                "ORG": (rng.choice(ORGS), "ORG"), "MONTH": (rng.choice(MONTHS), None)}
        sentence: list[tuple[str, str]] = []
        for token in template.split():
            if token.startswith("{"):
                sentence += _tagged(*fill[token.strip("{}")])
            else:
                sentence.append((token, "O"))
        out.append(sentence)
    return out


def write_conll(path: Path, n: int, seed: int = 0) -> Path:
    """CoNLL-2003-like: WORD POS CHUNK TAG, a -DOCSTART- line, blank lines between sentences."""
    lines = ["-DOCSTART- -X- -X- O", ""]
    for sentence in tagged_sentences(n, seed):
        lines += [f"{w} X X {t}" for w, t in sentence] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def squad_examples(n: int, seed: int = 0, unanswerable: float = 0.0) -> dict:
    """SQuAD JSON: each context says where three people live; a question asks where one of them lives
    or (``unanswerable``) where a fourth person, not in the context, lives."""
    rng = random.Random(seed)
    paragraphs = []
    for k in range(n):
        people = rng.sample(PEOPLE, 4)
        places = rng.sample(PLACES, 3)
        sentences = [f"{p} lives in {c}." for p, c in zip(people, places)]
        context = " ".join(sentences)
        if rng.random() < unanswerable:
            question = {"id": f"q{k}", "question": f"Where does {people[3]} live?", "answers": [],
                        "is_impossible": True}
        else:
            i = rng.randrange(3)
            start = context.index(sentences[i]) + len(people[i]) + len(" lives in ")
            question = {"id": f"q{k}", "question": f"Where does {people[i]} live?",
                        "answers": [{"text": places[i], "answer_start": start}], "is_impossible": False}
        paragraphs.append({"context": context, "qas": [question]})
    return {"version": "v2.0" if unanswerable else "1.1", "data": [{"title": "people", "paragraphs": paragraphs}]}


def write_squad(path: Path, n: int, seed: int = 0, unanswerable: float = 0.0) -> Path:
    path.write_text(json.dumps(squad_examples(n, seed, unanswerable), ensure_ascii=False), encoding="utf-8")
    return path
