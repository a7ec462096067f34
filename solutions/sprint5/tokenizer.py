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
        self.itos = sorted(set(chars))  # id → character
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}  # character → id

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """The tokenizer of every distinct character in `text`."""
        return cls(text)

    @property
    def vocab_size(self) -> int:
        """How many distinct characters (ids 0 … vocab_size − 1)."""
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """text → one id per character, a list of ints ("" → []).

        ValueError, naming the character (its repr), for one not in the vocabulary.
        """
        ids = []
        for ch in text:
            if ch not in self.stoi:
                raise ValueError(f"character {ch!r} is not in the vocabulary")
            ids.append(self.stoi[ch])
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """ids → the text, one character per id ([] → "")."""
        return "".join(self.itos[i] for i in ids)


def _pair_counts(ids: list[int]) -> dict[tuple[int, int], int]:
    """How often each adjacent pair occurs, in order of first occurrence ("aaa": (a, a) twice)."""
    counts: dict[tuple[int, int], int] = {}
    for pair in itertools.pairwise(ids):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def _merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each occurrence of `pair`, left to right without overlaps, by new_id."""
    out = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class BPETokenizer:
    """Byte-level byte-pair encoding (GPT-2's, without its regex pre-split), from scratch.

    Text is first its UTF-8 bytes: ids 0 … 255 are the raw bytes, so any string can be
    encoded and decode(encode(s)) == s for every string, even "" and emoji. Training adds
    merges: `merges` is a dict {(id_a, id_b): new_id} in training order, the k-th merge
    having new_id 256 + k; `vocab` maps every id to its bytes (vocab[256 + k] =
    vocab[id_a] + vocab[id_b]). A new BPETokenizer() has no merges (vocab_size 256).
    """

    def __init__(self):
        self.merges: dict[tuple[int, int], int] = {}  # (id_a, id_b) → new id, training order
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}  # id → bytes

    @property
    def vocab_size(self) -> int:
        """256 + the number of merges."""
        return 256 + len(self.merges)

    def train(self, text: str, vocab_size: int) -> None:
        """Learn vocab_size − 256 merges from `text`, replacing any earlier ones.

        Start from text.encode("utf-8") as ids; each step counts the adjacent pairs of
        the current ids (overlapping: "aaa" holds (a, a) twice), takes the most frequent
        pair, ties going to the pair that occurs first in the current ids, gives it the
        next id and replaces its occurrences left to right, without overlaps ("aaa" →
        [new, a]). Stops early when fewer than 2 ids are left. vocab_size 256 learns no
        merges; ValueError for vocab_size < 256.
        """
        if vocab_size < 256:
            raise ValueError(f"vocab_size must be at least 256 (the bytes), got {vocab_size}")
        self.merges = {}
        self.vocab = {i: bytes([i]) for i in range(256)}
        ids = list(text.encode("utf-8"))
        for new_id in range(256, vocab_size):
            counts = _pair_counts(ids)
            if not counts:
                break
            pair = max(counts, key=counts.get)  # max keeps the first of equal counts
            ids = _merge(ids, pair, new_id)
            self.merges[pair] = new_id
            self.vocab[new_id] = self.vocab[pair[0]] + self.vocab[pair[1]]

    def encode(self, text: str) -> list[int]:
        """text → ids: its UTF-8 bytes with the merges applied in training order.

        Equivalently, repeatedly merge the present pair whose merge was learnt first.
        Encoding the training text gives the ids that training ended with.
        """
        ids = list(text.encode("utf-8"))
        while len(ids) >= 2:
            counts = _pair_counts(ids)
            pair = min(counts, key=lambda p: self.merges.get(p, float("inf")))
            if pair not in self.merges:
                break
            ids = _merge(ids, pair, self.merges[pair])
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """ids → text: the ids' bytes joined, decoded as UTF-8.

        Bytes that are not valid UTF-8 (decode([255])) become U+FFFD "�", as
        bytes.decode("utf-8", errors="replace"): nothing is dropped. ValueError for an id
        outside 0 … vocab_size − 1.
        """
        chunks = []
        for i in ids:
            if i not in self.vocab:
                raise ValueError(f"id {i} is not in the vocabulary (size {self.vocab_size})")
            chunks.append(self.vocab[i])
        return b"".join(chunks).decode("utf-8", errors="replace")
