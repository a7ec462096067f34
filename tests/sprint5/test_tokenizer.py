"""Grades sprint5.tokenizer against ids worked out by hand.

CharTokenizer: ids of sorted characters, round trips, the unknown-character error.
BPETokenizer: the merges of small corpora traced by hand (the Wikipedia example
"aaabdaaabac", where a tie decides the second merge; "aaaa", where pairs overlap), the
training text encoding to training's final ids, and decode(encode(s)) == s for ASCII,
accents, CJK, emoji and the empty string, on a tokenizer trained on other text.
"""

import pytest

from grader import kata, target_module
from grader.checks import call_text, check_global_rngs, fail, global_rngs

tokenizer = target_module("sprint5.tokenizer")
ID = "sprint5.tokenizer."


# --- CharTokenizer ----------------------------------------------------------------------------


@kata(
    "CharTokenizer",
    hint="itos = sorted(set(chars)); stoi = {ch: i for i, ch in enumerate(itos)}",
)
class TestCharTokenizer:
    TEXT = "hello world, hi!"

    def test_ids_follow_sorted_characters(self):
        where = call_text(ID + "CharTokenizer.from_text", (self.TEXT,))
        tok = tokenizer.CharTokenizer.from_text(self.TEXT)
        chars = sorted(set(self.TEXT))  # [' ', '!', ',', 'd', 'e', 'h', 'i', 'l', 'o', 'r', 'w']
        if tok.vocab_size != len(chars):
            fail(where, f"vocab_size is {tok.vocab_size}, expected {len(chars)} distinct chars")
        got = tok.encode("hello")
        want = [chars.index(c) for c in "hello"]
        if got != want:
            fail(
                where + '.encode("hello")',
                f"got {got}, expected {want} (ids of sorted({sorted(set(self.TEXT))!r}))",
                "ids must follow the sorted characters, not first appearance or set order",
            )

    def test_order_of_input_does_not_matter(self):
        a = tokenizer.CharTokenizer("zyxcba")
        b = tokenizer.CharTokenizer(["a", "b", "c", "x", "y", "z", "a"])
        where = call_text(ID + "CharTokenizer", ("zyxcba",))
        got = a.encode("abcxyz")
        if got != [0, 1, 2, 3, 4, 5] or b.encode("abcxyz") != got:
            fail(
                where + '.encode("abcxyz")',
                f"got {got}, expected [0, 1, 2, 3, 4, 5]",
                "sort the characters: ids follow sorted order",
            )
        if b.vocab_size != 6:
            fail(call_text(ID + "CharTokenizer", (list("abcxyza"),)), "duplicates count once")

    def test_round_trip(self):
        tok = tokenizer.CharTokenizer.from_text(self.TEXT + "é✓")
        for s in ["hello", "", "é✓ world!", "  "]:
            ids = tok.encode(s)
            where = call_text(ID + "CharTokenizer.encode", (s,))
            if not isinstance(ids, list) or not all(type(i) is int for i in ids):
                fail(where, f"expected a list of ints, got {ids!r}")
            back = tok.decode(ids)
            if back != s:
                fail(where, f"decode(encode(s)) is {back!r}, expected {s!r}")

    def test_unknown_character(self):
        tok = tokenizer.CharTokenizer("abc")
        where = call_text(ID + "CharTokenizer('abc').encode", ("abz",))
        try:
            tok.encode("abz")
        except ValueError as exc:
            if "z" not in str(exc):
                fail(where, f"the ValueError does not name the character 'z': {exc}")
            return
        except KeyError:
            fail(
                where,
                "raised KeyError",
                "check membership and raise ValueError naming the unknown character",
            )
        fail(where, "no ValueError for the unknown character 'z'")


# --- BPETokenizer -----------------------------------------------------------------------------

WIKI = "aaabdaaabac"  # a=97 b=98 c=99 d=100
WIKI_MERGES = {(97, 97): 256, (256, 97): 257, (257, 98): 258, (258, 100): 259}
SAMPLES = [
    "hello world",
    "",
    "a",
    "naïve café",
    "日本語のテキスト",
    "🙂👍🏽 ok",
    "\x00\n\t",
    "aaaaaaa",
]


def trained(text, vocab_size):
    tok = tokenizer.BPETokenizer()
    tok.train(text, vocab_size)
    return tok


@kata(
    "BPETokenizer",
    hint="ids = list(text.encode('utf-8')); count adjacent pairs, merge the most frequent "
    "into the next id, left to right; encode applies the merges in training order",
)
class TestBPETokenizer:
    def test_untrained_is_bytes(self):
        tok = tokenizer.BPETokenizer()
        s = "héllo 🙂"
        where = call_text(ID + "BPETokenizer().encode", (s,))
        if tok.vocab_size != 256:
            fail(where, f"vocab_size is {tok.vocab_size}, expected 256 before training")
        got = tok.encode(s)
        want = list(s.encode("utf-8"))
        if got != want:
            fail(where, f"got {got}, expected the UTF-8 bytes {want}", "use s.encode('utf-8')")

    def test_vocab_size_256_no_merges(self):
        tok = trained(WIKI, 256)
        where = call_text(ID + "BPETokenizer.train", (WIKI, 256))
        if dict(tok.merges) != {} or tok.vocab_size != 256:
            fail(where, f"merges {tok.merges}, vocab_size {tok.vocab_size}: expected none, 256")
        if tok.encode(WIKI) != list(WIKI.encode()):
            fail(where, "encode must give the raw bytes without merges")

    def test_merges_by_hand(self):
        tok = trained(WIKI, 260)
        where = call_text(ID + "BPETokenizer.train", (WIKI, 260))
        got = dict(tok.merges)
        if list(got.items()) != list(WIKI_MERGES.items()):
            hint = ""
            if got.get((97, 98)) == 257:
                hint = (
                    "(256, 97) and (97, 98) both occur twice after the first merge: the tie "
                    "goes to the pair that occurs first, (256, 97)"
                )
            fail(where, f"merges are {got}, expected {WIKI_MERGES} in that order", hint)
        if tok.vocab_size != 260:
            fail(where, f"vocab_size is {tok.vocab_size}, expected 260")

    def test_training_text_encodes_to_final_ids(self):
        tok = trained(WIKI, 260)
        cases = {WIKI: [259, 258, 97, 99], "aaab": [258], "aaabd": [259], "abaa": [97, 98, 256]}
        for s, want in cases.items():
            got = tok.encode(s)
            if got != want:
                fail(
                    call_text(ID + "BPETokenizer.train(WIKI, 260); encode", (s,)),
                    f"got {got}, expected {want}",
                    "apply the merges in the order training learnt them",
                )

    def test_overlapping_pairs(self):
        tok = trained("aaaa", 300)
        where = call_text(ID + "BPETokenizer.train", ("aaaa", 300))
        want = {(97, 97): 256, (256, 256): 257}
        if dict(tok.merges) != want:
            fail(
                where,
                f"merges are {dict(tok.merges)}, expected {want} (then 1 id is left: stop)",
                "merge left to right without overlaps: 'aaaa' → [256, 256]",
            )
        for s, ids in {"aaa": [256, 97], "aaaaa": [257, 97], "aaaaaa": [257, 256]}.items():
            got = tok.encode(s)
            if got != ids or tok.decode(got) != s:
                fail(
                    call_text(ID + "BPETokenizer.train('aaaa', 300); encode", (s,)),
                    f"got {got} decoding to {tok.decode(got)!r}, expected {ids}",
                    "after merging a pair, skip both of its ids",
                )

    def test_round_trip(self):
        text = "the cat sat on the mat. the cat ate. " * 4 + "café naïve 🙂🙂"
        tok = trained(text, 280)
        if tok.vocab_size != 280 or sorted(tok.merges.values()) != list(range(256, 280)):
            fail(
                call_text(ID + "BPETokenizer.train", ("the cat…", 280)),
                f"vocab_size {tok.vocab_size}, merge ids {sorted(tok.merges.values())[:5]}…: "
                "expected 280 and ids 256 … 279",
            )
        for s in [*SAMPLES, text, "the cat 😺 𝔘𝔫𝔦"]:
            where = call_text(ID + "BPETokenizer.encode", (s,))
            ids = tok.encode(s)
            if not isinstance(ids, list) or not all(type(i) is int for i in ids):
                fail(where, f"expected a list of ints, got {ids!r}")
            back = tok.decode(ids)
            if back != s:
                fail(
                    where,
                    f"decode(encode(s)) is {back!r}, expected {s!r}",
                    "encode with text.encode('utf-8') and decode the joined bytes as UTF-8",
                )
        if len(tok.encode(text)) >= len(text.encode()) // 2:
            fail(where, "the training text barely compresses: are the merges applied?")

    def test_decode_invalid_utf8_replaces(self):
        tok = tokenizer.BPETokenizer()
        where = call_text(ID + "BPETokenizer().decode", ([104, 255, 105],))
        got = tok.decode([104, 255, 105])
        if got != "h\ufffdi":
            fail(
                where,
                f"got {got!r}, expected 'h\\ufffdi'",
                "decode with errors='replace': invalid bytes become U+FFFD, never dropped",
            )

    def test_stops_when_one_id_left(self):
        tok = trained("ab", 300)
        if tok.vocab_size != 257 or dict(tok.merges) != {(97, 98): 256}:
            fail(
                call_text(ID + "BPETokenizer.train", ("ab", 300)),
                f"merges {dict(tok.merges)}, vocab_size {tok.vocab_size}: expected one "
                "merge, then stop (no pairs left)",
            )

    def test_small_vocab_size_raises(self):
        with pytest.raises(ValueError):
            tokenizer.BPETokenizer().train("abc", 100)

    def test_rng_untouched(self):
        before = global_rngs()
        trained(WIKI, 260).encode(WIKI)
        check_global_rngs(before, call_text(ID + "BPETokenizer.train", (WIKI, 260)))
