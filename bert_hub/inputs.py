"""Checking the texts a user hands to bert_hub.

Texts may be ``str`` or UTF-8 ``bytes``. An empty batch, a non-text item or
bytes that are not UTF-8 get a one-line :class:`~bert_hub.errors.InputError`
naming the item. An empty string is a valid text (it packs to
``[CLS] [SEP]``); a text longer than ``seq_length`` is truncated, never an
error.
"""

from __future__ import annotations

from typing import Iterable

from bert_hub.errors import InputError


def check_texts(texts: Iterable[str | bytes] | str, what: str = "texts") -> list[str]:
    """Returns the texts as a list of ``str``, or raises ``InputError``."""
    if isinstance(texts, (str, bytes)):
        texts = [texts]
    out = []
    for i, t in enumerate(texts):
        if isinstance(t, bytes):
            try:
                t = t.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"{what}[{i}] is not valid UTF-8 (bad byte at offset {e.start}); "
                                 "decode or clean the text first") from None
        if not isinstance(t, str):
            raise InputError(f"{what}[{i}] is a {type(t).__name__}, not a string")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InputError(f"{what}[{i}] holds characters that are not valid Unicode "
                             f"(offset {e.start}); decode the input as UTF-8") from None
        out.append(t)
    if not out:
        raise InputError(f"no {what} given; pass at least one text")
    return out
