"""Tokenizers: text to a list of integer ids and back.

CharTokenizer gives each distinct character an id; BPETokenizer is GPT-2's byte-level
byte-pair encoding, trained from scratch. Ids are Python ints in lists, not tensors.
"""

import itertools
from collections.abc import Iterable


class CharTokenizer:
    """A character-level tokenizer: one id per distinct character.

    CharTokenizer(chars) takes any iterable of one-character strings (a str works);
    duplicates count once. Ids follow the sorted characters: the smallest character
    (by code point) is id 0, the next id 1, and so on, so the same set of characters
    always gives the same ids, whatever order they came in.
    """

    def __init__(self, chars: Iterable[str]):
        raise NotImplementedError("sprint5.tokenizer.CharTokenizer")

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """The tokenizer of every distinct character in `text`."""
        raise NotImplementedError("sprint5.tokenizer.CharTokenizer")

    @property
    def vocab_size(self) -> int:
        """How many distinct characters (ids 0 … vocab_size − 1)."""
        raise NotImplementedError("sprint5.tokenizer.CharTokenizer")

    def encode(self, text: str) -> list[int]:
        """text → one id per character, a list of ints ("" → []).

        ValueError, naming the character (its repr), for one not in the vocabulary.
        """
        raise NotImplementedError("sprint5.tokenizer.CharTokenizer")

    def decode(self, ids: Iterable[int]) -> str:
        """ids → the text, one character per id ([] → "")."""
        raise NotImplementedError("sprint5.tokenizer.CharTokenizer")


class BPETokenizer:
    """Byte-level byte-pair encoding (GPT-2's, without its regex pre-split), from scratch.

    Text is first its UTF-8 bytes: ids 0 … 255 are the raw bytes, so any string can be
    encoded and decode(encode(s)) == s for every string, even "" and emoji. Training adds
    merges: `merges` is a dict {(id_a, id_b): new_id} in training order, the k-th merge
    having new_id 256 + k; `vocab` maps every id to its bytes (vocab[256 + k] =
    vocab[id_a] + vocab[id_b]). A new BPETokenizer() has no merges (vocab_size 256).
    """

    def __init__(self):
        raise NotImplementedError("sprint5.tokenizer.BPETokenizer")

    @property
    def vocab_size(self) -> int:
        """256 + the number of merges."""
        raise NotImplementedError("sprint5.tokenizer.BPETokenizer")

    def train(self, text: str, vocab_size: int) -> None:
        """Learn vocab_size − 256 merges from `text`, replacing any earlier ones.

        Start from text.encode("utf-8") as ids; each step counts the adjacent pairs of
        the current ids (overlapping: "aaa" holds (a, a) twice), takes the most frequent
        pair, ties going to the pair that occurs first in the current ids, gives it the
        next id and replaces its occurrences left to right, without overlaps ("aaa" →
        [new, a]). Stops early when fewer than 2 ids are left. vocab_size 256 learns no
        merges; ValueError for vocab_size < 256.
        """
        raise NotImplementedError("sprint5.tokenizer.BPETokenizer")

    def encode(self, text: str) -> list[int]:
        """text → ids: its UTF-8 bytes with the merges applied in training order.

        Equivalently, repeatedly merge the present pair whose merge was learnt first.
        Encoding the training text gives the ids that training ended with.
        """
        raise NotImplementedError("sprint5.tokenizer.BPETokenizer")

    def decode(self, ids: Iterable[int]) -> str:
        """ids → text: the ids' bytes joined, decoded as UTF-8.

        Bytes that are not valid UTF-8 (decode([255])) become U+FFFD "�", as
        bytes.decode("utf-8", errors="replace"): nothing is dropped. ValueError for an id
        outside 0 … vocab_size − 1.
        """
        raise NotImplementedError("sprint5.tokenizer.BPETokenizer")
