"""Grades sprint5.tokenizer against ids worked out by hand.

CharTokenizer: ids of sorted characters, round trips, the unknown-character error.
BPETokenizer: the merges of small corpora traced by hand (the Wikipedia example
"aaabdaaabac", where a tie decides the second merge; "aaaa", where pairs overlap), the
training text encoding to training's final ids, and decode(encode(s)) == s for ASCII,
accents, CJK, emoji and the empty string, on a tokenizer trained on other text.
"""

import re

from grader import kata, target_module
from grader.checks import check_global_rngs, expect_raises, fail, global_rngs
from tests.kata_helpers import error_of, kata_call

tokenizer = target_module("sprint5.tokenizer")


def text_call(call, where: str):
    """call(), with the UnicodeErrors of a wrong codec turned into teaching failures."""
    try:
        return call()
    except UnicodeEncodeError as exc:
        fail(
            where,
            f"raised UnicodeEncodeError: the {exc.encoding} codec cannot hold every "
            "character of the text",
            "the text turned into bytes with a codec narrower than UTF-8 (latin-1, ascii)",
        )
    except UnicodeDecodeError as exc:
        fail(
            where,
            f"raised UnicodeDecodeError: bytes that are not valid {exc.encoding}",
            "the bytes decoded strictly (the default): an invalid byte raises, where it "
            "must become U+FFFD",
        )


# --- CharTokenizer ----------------------------------------------------------------------------


@kata("CharTokenizer")
class TestCharTokenizer:
    TEXT = "hello world, hi!"

    def test_ids_follow_sorted_characters(self):
        where = kata_call.then(".from_text")(self.TEXT)
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
                "ids in order of first appearance (or of a set's iteration), not of the sorted "
                "characters",
            )

    def test_order_of_input_does_not_matter(self):
        a = tokenizer.CharTokenizer("zyxcba")
        b = tokenizer.CharTokenizer(["a", "b", "c", "x", "y", "z", "a"])
        where = kata_call("zyxcba")
        got = a.encode("abcxyz")
        if got != [0, 1, 2, 3, 4, 5]:
            fail(
                where + '.encode("abcxyz")',
                f"got {got}, expected [0, 1, 2, 3, 4, 5]",
                "ids in order of first appearance (or of a set's iteration), not of the sorted "
                "characters",
            )
        where = kata_call(list("abcxyza"))
        if b.vocab_size != 6:
            fail(
                where,
                f"vocab_size is {b.vocab_size}, expected 6: a repeated character counts once",
                "the characters not made distinct first, so a repeated one takes an id of "
                "its own each time",
            )
        if b.encode("abcxyz") != got:
            fail(
                where + '.encode("abcxyz")',
                f"got {b.encode('abcxyz')}, expected {got}, the ids of CharTokenizer('zyxcba')",
                "the characters not made distinct first, so a repeated one shifts the ids after it",
            )

    def test_round_trip(self):
        tok = tokenizer.CharTokenizer.from_text(self.TEXT + "é✓")
        for s in ["hello", "", "é✓ world!", "  "]:
            ids = tok.encode(s)
            where = kata_call.then(".encode")(s)
            if not isinstance(ids, list) or not all(type(i) is int for i in ids):
                fail(where, f"expected a list of ints, got {ids!r}")
            back = tok.decode(ids)
            if back != s:
                fail(where, f"decode(encode(s)) is {back!r}, expected {s!r}")

    def test_unknown_character(self):
        tok = tokenizer.CharTokenizer("abc")
        where = kata_call.then("('abc').encode")("abz")
        raised = error_of(lambda: tok.encode("abz"))
        expect_raises(
            ValueError,
            lambda: tok.encode("abz"),
            where,
            "'z' is not in the vocabulary of 'abc'",
            "each character looked up in the table with no membership test first, so an "
            "unknown one raises KeyError"
            if isinstance(raised, KeyError)
            else "unknown characters skipped or given some id instead of refused",
        )
        # 'z' as a character of its own: the z of "size" names nothing
        if not re.search(r"(?<![^\W\d_])z(?![^\W\d_])", str(raised)):
            fail(
                where,
                f"the ValueError says {str(raised)!r}, which does not name the character 'z'",
                "a message that says something is unknown but not what: the docstring asks "
                "for the character itself (its repr)",
            )


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
    where = kata_call.then("().train")(text, vocab_size)
    text_call(lambda: tok.train(text, vocab_size), where)
    return tok


@kata("BPETokenizer")
class TestBPETokenizer:
    def test_untrained_is_bytes(self):
        tok = tokenizer.BPETokenizer()
        s = "héllo 🙂"
        where = kata_call.then("().encode")(s)
        if tok.vocab_size != 256:
            fail(where, f"vocab_size is {tok.vocab_size}, expected 256 before training")
        got = text_call(lambda: tok.encode(s), where)
        want = list(s.encode("utf-8"))
        if got != want:
            fail(
                where,
                f"got {got}, expected the UTF-8 bytes {want}",
                "the ids are not the text's UTF-8 bytes: code points, or another encoding",
            )

    def test_vocab_size_256_no_merges(self):
        tok = trained(WIKI, 256)
        where = kata_call.then(".train")(WIKI, 256)
        if dict(tok.merges) != {} or tok.vocab_size != 256:
            fail(where, f"merges {tok.merges}, vocab_size {tok.vocab_size}: expected none, 256")
        if tok.encode(WIKI) != list(WIKI.encode()):
            fail(where, "encode must give the raw bytes without merges")

    def test_merges_by_hand(self):
        tok = trained(WIKI, 260)
        where = kata_call.then(".train")(WIKI, 260)
        got = dict(tok.merges)
        if list(got.items()) != list(WIKI_MERGES.items()):
            hint = ""
            if got.get((97, 98)) == 257:
                hint = (
                    "a tie between equally frequent pairs broken by another rule than first "
                    "occurrence: after the first merge (256, 97) and (97, 98) both occur "
                    "twice, and (256, 97) comes first"
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
                    kata_call.then(".train(WIKI, 260); encode")(s),
                    f"got {got}, expected {want}",
                    "the merges applied in another order than training learnt them (the "
                    "newest first, say)",
                )

    def test_earliest_merge_first_not_most_frequent(self):
        # training learns (a, b) → 256, (256, 256) → 257, (b, c) → 258. In "bcbcabc" the
        # pair (b, c) occurs 3 times and (a, b) once, but (a, b) was learnt first: merged
        # first, it takes the b that (b, c) would have taken at the end
        tok = trained("ababab bcbc", 259)
        where = kata_call.then('.train("ababab bcbc", 259); encode')("bcbcabc")
        got = text_call(lambda: tok.encode("bcbcabc"), where)
        want = [258, 258, 256, 99]
        if got != want:
            fail(
                where,
                f"got {got}, expected {want} (merges {dict(tok.merges)})",
                "the most frequent known pair merged first: encode applies the merges in the "
                "order training learnt them, whatever their counts in the text encoded"
                if got == [258, 258, 97, 258]
                else "the merges applied in another order than training learnt them",
            )

    def test_overlapping_pairs(self):
        tok = trained("aaaa", 300)
        where = kata_call.then(".train")("aaaa", 300)
        want = {(97, 97): 256, (256, 256): 257}
        if dict(tok.merges) != want:
            fail(
                where,
                f"merges are {dict(tok.merges)}, expected {want} (then 1 id is left: stop)",
                "overlapping pairs merged: after a merge the scan steps one id on instead "
                "of past the pair ('aaaa' gives [256, 256])",
            )
        for s, ids in {"aaa": [256, 97], "aaaaa": [257, 97], "aaaaaa": [257, 256]}.items():
            got = tok.encode(s)
            if got != ids or tok.decode(got) != s:
                fail(
                    kata_call.then(".train('aaaa', 300); encode")(s),
                    f"got {got} decoding to {tok.decode(got)!r}, expected {ids}",
                    "overlapping pairs merged: after a merge the scan steps one id on "
                    "instead of past the pair",
                )

    def test_round_trip(self):
        text = "the cat sat on the mat. the cat ate. " * 4 + "café naïve 🙂🙂"
        tok = trained(text, 280)
        if tok.vocab_size != 280 or sorted(tok.merges.values()) != list(range(256, 280)):
            fail(
                kata_call.then(".train")("the cat…", 280),
                f"vocab_size {tok.vocab_size}, merge ids {sorted(tok.merges.values())[:5]}…: "
                "expected 280 and ids 256 … 279",
            )
        for s in [*SAMPLES, text, "the cat 😺 𝔘𝔫𝔦"]:
            where = kata_call.then(".encode")(s)
            ids = text_call(lambda s=s: tok.encode(s), where)
            if not isinstance(ids, list) or not all(type(i) is int for i in ids):
                fail(where, f"expected a list of ints, got {ids!r}")
            back = text_call(lambda ids=ids: tok.decode(ids), where + " then decode")
            if back != s:
                fail(
                    where,
                    f"decode(encode(s)) is {back!r}, expected {s!r}",
                    "the text not encoded as UTF-8 bytes, or the ids' bytes not joined "
                    "before being decoded as UTF-8",
                )
        if len(tok.encode(text)) >= len(text.encode()) // 2:
            fail(
                kata_call.then(".encode")(text),
                f"the training text's {len(text.encode())} bytes encode to "
                f"{len(tok.encode(text))} ids, expected fewer than half as many",
                "the merges not applied in encode, or applied in another order than training "
                "learnt them",
            )

    def test_decode_invalid_utf8_replaces(self):
        tok = tokenizer.BPETokenizer()
        where = kata_call.then("().decode")([104, 255, 105])
        got = text_call(lambda: tok.decode([104, 255, 105]), where)
        if got != "h\ufffdi":
            fail(
                where,
                f"got {got!r}, expected 'h\\ufffdi'",
                "invalid bytes dropped (errors='ignore'): each must become U+FFFD",
            )

    def test_stops_when_one_id_left(self):
        tok = trained("ab", 300)
        if tok.vocab_size != 257 or dict(tok.merges) != {(97, 98): 256}:
            fail(
                kata_call.then(".train")("ab", 300),
                f"merges {dict(tok.merges)}, vocab_size {tok.vocab_size}: expected one "
                "merge, then stop (no pairs left)",
            )

    def test_small_vocab_size_raises(self):
        def train():
            tokenizer.BPETokenizer().train("abc", 100)

        expect_raises(
            ValueError,
            train,
            kata_call.then("().train")("abc", 100),
            "a vocabulary of 100 cannot hold the 256 byte ids",
            "no check that vocab_size is at least 256: training then makes no merges and "
            "returns quietly"
            if error_of(train) is None
            else "",
        )

    def test_rng_untouched(self):
        before = global_rngs()
        trained(WIKI, 260).encode(WIKI)
        check_global_rngs(before, kata_call.then(".train")(WIKI, 260))
