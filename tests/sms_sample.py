"""A generated SMS-style spam/ham data set, for the tests and benchmarks (not part of the package).

It is *not* the SMS Spam Collection (which cannot be downloaded here): texts
are assembled from templates in the style of that corpus (prize and
premium-rate spam; everyday ham), seeded, in its ``label<TAB>text`` format,
with its class balance (about 13% spam) and its short lengths. Use your own
data for real results.

Example:

>>> rows = sms_rows(10, seed=1)
>>> sorted({label for label, _ in rows}) <= ["ham", "spam"]
True
"""

from __future__ import annotations

import random
from pathlib import Path

_SPAM = [
    "WINNER!! As a valued network customer you have been selected to receive a {prize}. To claim call {phone}. Claim code {code}. Valid {hours} hours only.",
    "URGENT! Your mobile number has won {money} in our prize draw. Call {phone} now from a landline. T&Cs apply. {code}",
    "Free entry in 2 a wkly comp to win {prize}! Text WIN to {short} to receive entry question. Std txt rate. 18+ only",
    "Congratulations ur awarded {money} or a {prize}. Txt CLAIM to {short} to collect. Opt out reply STOP",
    "You have 1 new voicemail. Please call {phone} to hear it. Calls cost 150p/min. {code}",
    "Had your mobile {months} months or more? U R entitled to update to the latest colour {prize} for free! Call {phone}",
    "SIX chances to win CASH! From 100 to {money} txt CSH11 and send to {short}. Cost 150p/day, 6days, 16+ TsandCs apply",
    "IMPORTANT - You could be entitled up to {money} in compensation from mis-sold PPI. Reply YES to {short} for a free check",
    "Your account has been credited with {money} bonus. Log in at www.{site}.com within {hours} hrs to keep it. Ref {code}",
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
    "prize": ["£1000 cash prize", "Nokia camera phone", "holiday to Spain", "£500 voucher", "brand new iPhone", "2000 bonus points"],
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
