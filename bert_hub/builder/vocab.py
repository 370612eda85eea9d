"""WordPiece vocab files: reading them and finding the special tokens.

Special-token ids are never hard-coded: they are looked up by name in the
vocab, exactly as the upstream preprocess model does (``[PAD]``, ``[CLS]``,
``[SEP]``, ``[MASK]``). ``[MASK]`` is optional; the other three are required
to pack inputs.
"""

from __future__ import annotations

from pathlib import Path

from bert_hub.core.errors import VocabError
from bert_hub.core.inputs import decode_utf8
from bert_hub.core.interface import REQUIRED_SPECIAL_TOKENS, SPECIAL_TOKENS


def read_vocab(path: str | Path) -> list[str]:
    """Reads a vocab file (one token per line; the line number is the id)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise VocabError(f"cannot read vocab file {path}: {e.strerror or e}") from None
    text = decode_utf8(data, path, "a vocab file must be UTF-8 text", VocabError, encoding="utf-8")
    tokens = [t.rstrip("\r") for t in text.split("\n")]
    if tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise VocabError(f"{path}: the vocab file is empty")
    seen: dict[str, int] = {}
    for number, token in enumerate(tokens, start=1):
        if not token.strip():
            raise VocabError(
                f"{path}: line {number} is blank; a vocab file has one token a line (the line number "
                "is the id), so remove the line"
            )
        if token in seen:
            raise VocabError(
                f"{path}: line {number} repeats the token {token!r} of line {seen[token]}; each token "
                "has one id, so remove one of them"
            )
        seen[token] = number
    return tokens


def special_token_ids(tokens: list[str], source: str = "vocab") -> dict[str, int]:
    """The ``get_special_tokens_dict`` values for a vocab.

    Raises ``VocabError`` when ``[PAD]``, ``[CLS]`` or ``[SEP]`` is missing;
    ``mask_id`` is left out when the vocab has no ``[MASK]``.
    """
    index: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        index.setdefault(tok, i)
    out = {"vocab_size": len(tokens)}
    for key, tok in SPECIAL_TOKENS.items():
        if tok in index:
            out[key] = index[tok]
        elif key in REQUIRED_SPECIAL_TOKENS:
            raise VocabError(
                f"{source}: the vocab has no {tok} token, which BERT inputs need; add a line '{tok}' to the vocab file"
            )
    return out
