"""Sample files in the real formats, generated and small: what the tour and the guides run on.

``bert-hub samples --out samples`` writes them all (`write_samples`):

| file | what | for |
|---|---|---|
| texts.txt | one text per line | ``embed``, ``predict --input`` |
| sms.tsv | ``label<TAB>text``, spam or ham | ``train`` (binary) |
| test.tsv | more of the same, other seed | ``evaluate`` |
| topics.tsv | ``label<TAB>text``, four topics | ``train`` (multi-class) |
| topics.jsonl | the same as JSON Lines, other seed | ``evaluate`` |
| tags.tsv | ``labels<TAB>text``, a set of topics per text | ``train --multi-label`` |
| ratings.tsv | ``score<TAB>text``, a 0-5 rating | ``train --task text-regression`` |
| ner.conll | CoNLL-2003-like sentences with PER / LOC / ORG | ``train --task token-classification`` |
| squad.json | SQuAD 1.1 questions on short contexts | ``train --task question-answering`` |

None of it is real data: the SMS rows are *not* the SMS Spam Collection
(which cannot be downloaded here) but texts assembled from templates in its
style (prize and premium-rate spam; everyday ham), seeded, with its class
balance (about 13% spam) and its short lengths; names, places and topics are
drawn from short lists and put into templates, so a model learns them in a
short run. Use your own data for real results.

Examples:
    >>> rows = sms_rows(10, seed=1)
    >>> sorted({label for label, _ in rows}) <= ["ham", "spam"]
    True
    >>> sorted({label for label, _ in topic_rows(40)})
    ['food', 'sport', 'travel', 'weather']
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from bert_hub.core.manifests import FolderKind
from bert_hub.core.outputs import atomic_directory

_SPAM = [
    "WINNER!! As a valued network customer you have been selected to receive a {prize}. To claim call {phone}. Claim "
    "code {code}. Valid {hours} hours only.",
    "URGENT! Your mobile number has won {money} in our prize draw. Call {phone} now from a landline. T&Cs apply. "
    "{code}",
    "Free entry in 2 a wkly comp to win {prize}! Text WIN to {short} to receive entry question. Std txt rate. 18+ only",
    "Congratulations ur awarded {money} or a {prize}. Txt CLAIM to {short} to collect. Opt out reply STOP",
    "You have 1 new voicemail. Please call {phone} to hear it. Calls cost 150p/min. {code}",
    "Had your mobile {months} months or more? U R entitled to update to the latest colour {prize} for free! Call "
    "{phone}",
    "SIX chances to win CASH! From 100 to {money} txt CSH11 and send to {short}. Cost 150p/day, 6days, 16+ TsandCs "
    "apply",
    "IMPORTANT - You could be entitled up to {money} in compensation from mis-sold PPI. Reply YES to {short} for a "
    "free check",
    "Your account has been credited with {money} bonus. Log in at www.{site}.com within {hours} hrs to keep it. Ref "
    "{code}",
    "Dear customer, your {prize} delivery is pending. Pay the {money} fee at http://{site}.co/pay to release it",
]
_HAM = [
    "Ok lar... {joke} See you {when}",
    "I'm gonna be home soon and i don't want to talk about this stuff anymore {when}",
    "Sorry, I'll call later. In a meeting till {time}",
    "Did you catch the bus? Are you frying an egg? {joke}",
    "Hey, are we still on for {food} {when}? I can bring {thing}",
    "Nah I don't think he goes to usf, he lives around here though",
    "Can you pick up some {food} on the way back? We're out",
    "Happy birthday {name}! Hope you have a great day :)",
    "Just reached home. Going to sleep now, long day at {place}",
    "What time is the {event} {when}? I'll meet you at {place}",
    "Lol no. {name} said that? {joke}",
    "I'll be there in {minutes} mins, save me a seat",
    "Mum says dinner is at {time}, don't be late again",
    "Thanks for {thing} yesterday, it was really nice of you",
    "Are you free to talk? Need to ask you about the {event}",
]
_FILL = {
    "prize": [
        "£1000 cash prize",
        "Nokia camera phone",
        "holiday to Spain",
        "£500 voucher",
        "brand new iPhone",
        "2000 bonus points",
    ],
    "money": ["£1000", "£2000", "£5000", "$500", "£250", "£900"],
    "phone": ["09061701461", "09050000327", "08000930705", "09066364589", "0871 872 9758"],
    "code": ["KL341", "GHK22", "X29", "4T7W", "BOX95QU", "ZB77"],
    "hours": ["12", "24", "48"],
    "short": ["87121", "80086", "85023", "69669", "81010"],
    "months": ["11", "12", "18"],
    "site": ["claim-prize", "bonus-win", "secure-pay", "my-reward"],
    "joke": ["Joking wif u oni...", "haha", "u r so funny", "ok whatever", ":-)"],
    "when": ["tonight", "tomorrow", "later", "this weekend", "on Friday", "after work"],
    "time": ["5", "6pm", "half 7", "8", "noon"],
    "food": ["pizza", "milk", "bread", "curry", "coffee", "lunch"],
    "thing": ["the dvd", "some snacks", "the charger", "my notes", "the book"],
    "name": ["Sam", "Priya", "Tom", "Ana", "Jo", "Mike"],
    "place": ["work", "the station", "uni", "the gym", "the library"],
    "event": ["match", "party", "meeting", "exam", "movie"],
    "minutes": ["5", "10", "15", "20"],
}


def _fill(template: str, rng: random.Random) -> str:
    out = template
    for key, options in _FILL.items():
        while "{" + key + "}" in out:
            out = out.replace("{" + key + "}", rng.choice(options), 1)
    return out


def sms_rows(n: int, seed: int = 0, spam_fraction: float = 0.134) -> list[tuple[str, str]]:
    """``n`` (label, text) rows, about ``spam_fraction`` of them spam."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        spam = rng.random() < spam_fraction
        rows.append(("spam", _fill(rng.choice(_SPAM), rng)) if spam else ("ham", _fill(rng.choice(_HAM), rng)))
    return rows


def write_sms_file(path: str | Path, n: int, seed: int = 0) -> Path:
    """Writes ``n`` rows in the SMS Spam Collection format (``label<TAB>text``)."""
    path = Path(path)
    path.write_text("".join(f"{label}\t{text}\n" for label, text in sms_rows(n, seed)), encoding="utf-8")
    return path


PEOPLE = [
    "Angela Merkel",
    "Barack Obama",
    "Marie Curie",
    "Ada Lovelace",
    "Alan Turing",
    "Nelson Mandela",
    "Frida Kahlo",
    "Pablo Picasso",
    "Greta Thunberg",
    "Isaac Newton",
]
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
        (w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(words[lead:])
    ]


def tagged_sentences(n: int, seed: int = 0) -> list[list[tuple[str, str]]]:
    """``n`` seeded sentences with PER / LOC / ORG tags (BIO)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        template = rng.choice(TEMPLATES)
        per, per2 = rng.sample(PEOPLE, 2)
        fill = {
            "PER": (per, "PER"),
            "PER2": (per2, "PER"),
            "LOC": (rng.choice(PLACES), "LOC"),
            "ORG": (rng.choice(ORGS), "ORG"),
            "MONTH": (rng.choice(MONTHS), None),
        }
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
            question = {
                "id": f"q{k}",
                "question": f"Where does {people[3]} live?",
                "answers": [],
                "is_impossible": True,
            }
        else:
            i = rng.randrange(3)
            start = context.index(sentences[i]) + len(people[i]) + len(" lives in ")
            question = {
                "id": f"q{k}",
                "question": f"Where does {people[i]} live?",
                "answers": [{"text": places[i], "answer_start": start}],
                "is_impossible": False,
            }
        paragraphs.append({"context": context, "qas": [question]})
    return {"version": "v2.0" if unanswerable else "1.1", "data": [{"title": "people", "paragraphs": paragraphs}]}


def write_squad(path: Path, n: int, seed: int = 0, unanswerable: float = 0.0) -> Path:
    """Writes ``n`` SQuAD questions (a share of them ``unanswerable``) to ``path``."""
    path.write_text(json.dumps(squad_examples(n, seed, unanswerable), ensure_ascii=False), encoding="utf-8")
    return path


TOPIC_PHRASES = {
    "weather": [
        "it will rain all day",
        "the sun is out again",
        "a storm is coming tonight",
        "snow closed the roads",
        "it is far too hot today",
        "the wind broke the fence",
    ],
    "sport": [
        "the team won the final",
        "she ran a new record",
        "the match ended in a draw",
        "he scored twice in the second half",
        "our club lost at home",
        "the coach picked a new captain",
    ],
    "food": [
        "the soup was too salty",
        "we baked fresh bread",
        "this curry is amazing",
        "lunch was pizza again",
        "the cafe serves great coffee",
        "dinner is pasta with garlic",
    ],
    "travel": [
        "the train leaves at noon",
        "our flight was delayed",
        "we missed the last bus",
        "the hotel is next to the station",
        "she booked a ferry to the island",
        "the road trip took ten hours",
    ],
}
"""Multi-class and multi-label samples: a few phrases per topic, put into sentences."""
_OPENERS = ["", "honestly, ", "so ", "by the way, ", "guess what: ", "ok, "]


def topic_rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (topic, text) rows, topics in turn."""
    rng = random.Random(seed)
    names = sorted(TOPIC_PHRASES)
    return [
        (names[i % len(names)], rng.choice(_OPENERS) + rng.choice(TOPIC_PHRASES[names[i % len(names)]]))
        for i in range(n)
    ]


def tag_rows(n: int, seed: int = 0) -> list[tuple[list[str], str]]:
    """``n`` (topics, text) rows: none, one or two topics per text."""
    rng = random.Random(seed)
    names = sorted(TOPIC_PHRASES)
    rows = []
    for _ in range(n):
        chosen = sorted(rng.sample(names, rng.choice([0, 1, 1, 2])))
        parts = [rng.choice(TOPIC_PHRASES[t]) for t in chosen] or [
            rng.choice(["see you later", "ok thanks", "call me back"])
        ]
        rng.shuffle(parts)
        rows.append((chosen, " and ".join(parts)))
    return rows


_GOOD = ["lovely", "great", "wonderful", "moving", "clever", "funny"]
_BAD = ["dull", "boring", "silly", "slow", "awful", "flat"]


def rating_rows(n: int, seed: int = 0) -> list[tuple[float, str]]:
    """``n`` (score, review) rows: the score (0-5) grows with the share of good words."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        good = rng.randint(0, 3)
        words = rng.sample(_GOOD, good) + rng.sample(_BAD, 3 - good)
        rng.shuffle(words)
        rows.append((round(good * 5 / 3, 2), f"a {', '.join(words)} film"))
    return rows


SAMPLES = FolderKind(
    "samples",
    frozenset(
        {
            "texts.txt",
            "sms.tsv",
            "test.tsv",
            "topics.tsv",
            "topics.jsonl",
            "tags.tsv",
            "ratings.tsv",
            "ner.conll",
            "squad.json",
        }
    ),
)
"""What ``bert-hub samples`` writes."""


def write_samples(out: str | Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Writes every sample file into the folder ``out`` (built aside, then swapped in); returns
    ``{"out": ..., "files": {name: rows}}``."""
    out = Path(out).expanduser()
    files: dict[str, int] = {}
    with atomic_directory(out, kind=SAMPLES, overwrite=overwrite, what="`out` folder") as tmp:

        def lines(name: str, rows: list[str]) -> None:
            (tmp / name).write_text("".join(r + "\n" for r in rows), encoding="utf-8")
            files[name] = len(rows)

        lines("texts.txt", [text for _, text in sms_rows(12, seed=21)])
        lines("sms.tsv", [f"{label}\t{text}" for label, text in sms_rows(160, seed=11)])
        lines("test.tsv", [f"{label}\t{text}" for label, text in sms_rows(40, seed=12)])
        lines("topics.tsv", [f"{label}\t{text}" for label, text in topic_rows(120, seed=13)])
        lines("topics.jsonl", [json.dumps({"text": text, "label": label}) for label, text in topic_rows(40, seed=18)])
        lines("tags.tsv", [f"{','.join(labels)}\t{text}" for labels, text in tag_rows(120, seed=14)])
        lines("ratings.tsv", [f"{score:g}\t{text}" for score, text in rating_rows(90, seed=15)])
        write_conll(tmp / "ner.conll", 100, seed=16)
        files["ner.conll"] = 100
        write_squad(tmp / "squad.json", 80, seed=17)
        files["squad.json"] = 80
    return {"out": str(out), "files": files}
