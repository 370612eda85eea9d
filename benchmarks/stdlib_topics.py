"""Real multi-class and multi-label text data, built from the Python standard library's own docstrings.

No topic corpus can be downloaded here, but every machine has real English
text with a known topic: the documentation strings of the standard library.
Each text is the first paragraph of the docstring of a public function,
class or method; its label is the area its module belongs to:

    concurrency  threading, multiprocessing, asyncio, concurrent.futures, queue, sched
    files        os, os.path, shutil, pathlib, glob, fnmatch, tempfile, filecmp, io, zipfile, tarfile
    formats      json, csv, pickle, configparser, plistlib, xml.etree.ElementTree, html.parser, email
    math         math, cmath, statistics, fractions, decimal, random, numbers
    network      socket, ssl, http.client, http.server, urllib.request, urllib.parse, smtplib, ftplib
    text         re, string, textwrap, difflib, unicodedata, codecs, locale

``--multi-label`` joins two or three texts of different areas into one
(labels: their areas, comma-separated) and adds single texts and texts of
other modules (collections, itertools, functools, datetime: no label), so a
text has none, one or several labels. The split is seeded and by text.

    python benchmarks/stdlib_topics.py --out data/topics          # train.tsv, test.tsv (multi-class)
    python benchmarks/stdlib_topics.py --multi-label --out data/tags

This is data for measuring, not for the package: it depends on the Python
version (3.11 here) for its exact texts.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import random
import re
from pathlib import Path

AREAS = {
    "concurrency": [
        "threading",
        "multiprocessing",
        "multiprocessing.pool",
        "asyncio",
        "asyncio.tasks",
        "asyncio.locks",
        "asyncio.queues",
        "concurrent.futures",
        "queue",
        "sched",
    ],
    "files": [
        "os",
        "posixpath",
        "shutil",
        "pathlib",
        "glob",
        "fnmatch",
        "tempfile",
        "filecmp",
        "io",
        "zipfile",
        "tarfile",
    ],
    "formats": [
        "json",
        "json.decoder",
        "json.encoder",
        "csv",
        "pickle",
        "configparser",
        "plistlib",
        "xml.etree.ElementTree",
        "html.parser",
        "email.message",
        "email.utils",
    ],
    "math": ["math", "cmath", "statistics", "fractions", "decimal", "random", "numbers"],
    "network": [
        "socket",
        "ssl",
        "http.client",
        "http.server",
        "urllib.request",
        "urllib.parse",
        "smtplib",
        "ftplib",
        "ipaddress",
    ],
    "text": ["re", "string", "textwrap", "difflib", "unicodedata", "codecs", "locale"],
}
OTHER = ["collections", "itertools", "functools", "datetime", "calendar", "enum", "dataclasses", "operator"]


def first_paragraph(doc: str | None) -> str | None:
    if not doc:
        return None
    text = " ".join(inspect.cleandoc(doc).split("\n\n", 1)[0].split())
    if (
        len(text) < 25
        or text.startswith(("Return self", "Implement", "Create and return a new object"))
        or re.match(r"^[\w.]+\(.*\)$", text)
    ):
        return None
    return text


def texts_of(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    out = []
    for name, obj in vars(module).items():
        home = getattr(obj, "__module__", None) or module_name
        if (
            name.startswith("_")
            or not isinstance(home, str)
            or home.split(".")[0].lstrip("_") != module_name.split(".")[0]
        ):
            continue
        candidates = [obj]
        if inspect.isclass(obj):
            candidates += [m for n, m in vars(obj).items() if not n.startswith("_") and callable(m)]
        for c in candidates:
            if callable(c) or inspect.isclass(c):
                text = first_paragraph(getattr(c, "__doc__", None))
                if text:
                    out.append(text)
    return out


def collect() -> tuple[dict[str, list[str]], list[str]]:
    seen: set[str] = set()
    by_area: dict[str, list[str]] = {}
    for area, modules in AREAS.items():
        texts = []
        for m in modules:
            for t in texts_of(m):
                if t not in seen:
                    seen.add(t)
                    texts.append(t)
        by_area[area] = texts
    other = [t for m in OTHER for t in texts_of(m) if t not in seen]
    return by_area, sorted(set(other))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for train.tsv and test.tsv")
    ap.add_argument("--multi-label", action="store_true")
    ap.add_argument("--per-area", type=int, default=200, help="texts per area at most (default 200)")
    ap.add_argument("--test-fraction", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    by_area, other = collect()
    pools = {a: rng.sample(ts, min(len(ts), args.per_area)) for a, ts in by_area.items()}
    # split by text first, so no text is in both files
    split = {}
    for a, ts in pools.items():
        n_test = int(len(ts) * args.test_fraction)
        split[a] = (ts[n_test:], ts[:n_test])
    rows: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for part, k in (("train", 0), ("test", 1)):
        if not args.multi_label:
            rows[part] = [(a, t) for a, (tr, te) in split.items() for t in (tr, te)[k]]
        else:
            areas = list(split)
            singles = [(a, t) for a in areas for t in split[a][k]]
            rng.shuffle(singles)
            n = len(singles)
            out = []
            i = 0
            while i < n:
                size = rng.choice([1, 1, 2, 2, 3])
                group = singles[i : i + size]
                i += size
                labels = sorted({a for a, _ in group})
                out.append((",".join(labels), " ".join(t for _, t in group)))
            others = other[:]
            rng.shuffle(others)
            cut = int(len(others) * args.test_fraction)
            none = others[cut:] if k == 0 else others[:cut]
            out += [("", t) for t in none[: max(1, len(out) // 8)]]
            rows[part] = out
        rng.shuffle(rows[part])
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for part, items in rows.items():
        (out_dir / f"{part}.tsv").write_text("".join(f"{lab}\t{text}\n" for lab, text in items), encoding="utf-8")
    sizes = {a: len(ts) for a, ts in by_area.items()}
    print(f"areas (texts found): {sizes}; other: {len(other)}")
    print(f"wrote {out_dir}/train.tsv ({len(rows['train'])}) and test.tsv ({len(rows['test'])})")


if __name__ == "__main__":
    main()
