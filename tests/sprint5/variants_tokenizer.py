import itertools
from collections import Counter

from grader.variants import alternative, mistake

# --- CharTokenizer ----------------------------------------------------------------------------


class _Char:
    def __init__(self, chars):
        self.itos = sorted(set(chars))
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}

    @classmethod
    def from_text(cls, text):
        return cls(text)

    @property
    def vocab_size(self):
        return len(self.itos)

    def encode(self, text):
        for ch in text:
            if ch not in self.stoi:
                raise ValueError(f"unknown character {ch!r}")
        return [self.stoi[ch] for ch in text]

    def decode(self, ids):
        return "".join(self.itos[i] for i in ids)


@mistake("CharTokenizer")
class CharFirstAppearance(_Char):
    """ids in order of first appearance (dict.fromkeys), not sorted"""

    def __init__(self, chars):
        self.itos = list(dict.fromkeys(chars))
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}


@mistake("CharTokenizer")
class CharKeyError(_Char):
    """stoi[ch] straight away: an unknown character raises KeyError, not ValueError"""

    def encode(self, text):
        return [self.stoi[ch] for ch in text]


@mistake("CharTokenizer")
class CharDuplicates(_Char):
    """sorted(chars) without set(): duplicate characters take several ids"""

    def __init__(self, chars):
        self.itos = sorted(chars)
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}


@mistake("CharTokenizer")
class CharErrorNamesNoCharacter(_Char):
    """raises ValueError for an unknown character without saying which one"""

    def encode(self, text):
        if any(ch not in self.stoi for ch in text):
            raise ValueError(
                f"text holds a character outside this vocabulary of size {len(self.itos)}"
            )
        return [self.stoi[ch] for ch in text]


@alternative("CharTokenizer")
class CharIndex(_Char):
    def encode(self, text):
        out = []
        for ch in text:
            try:
                out.append(self.itos.index(ch))
            except ValueError:
                raise ValueError(f"{ch!r} not in vocabulary") from None
        return out


# --- BPETokenizer -----------------------------------------------------------------------------


def _merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _merge_overlapping(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
        else:
            out.append(ids[i])
        i += 1
    return out


class _BPE:
    merge = staticmethod(_merge)
    encoding = "utf-8"

    def __init__(self):
        self.merges = {}
        self.vocab = {i: bytes([i]) for i in range(256)}

    @property
    def vocab_size(self):
        return 256 + len(self.merges)

    def best(self, counts):
        return max(counts, key=counts.get)

    def train(self, text, vocab_size):
        if vocab_size < 256:
            raise ValueError("vocab_size < 256")
        self.merges = {}
        self.vocab = {i: bytes([i]) for i in range(256)}
        ids = list(text.encode(self.encoding))
        for new_id in range(256, vocab_size):
            counts = Counter(itertools.pairwise(ids))
            if not counts:
                break
            pair = self.best(counts)
            ids = self.merge(ids, pair, new_id)
            self.merges[pair] = new_id
            self.vocab[new_id] = self.vocab[pair[0]] + self.vocab[pair[1]]

    def encode(self, text):
        ids = list(text.encode(self.encoding))
        for pair, new_id in self.merges.items():
            ids = self.merge(ids, pair, new_id)
        return ids

    def decode(self, ids):
        return b"".join(self.vocab[i] for i in ids).decode(self.encoding, errors="replace")


@mistake("BPETokenizer")
class BPEOverlapping(_BPE):
    """after merging a pair, steps one id on instead of two: "aaa" becomes two new ids"""

    merge = staticmethod(_merge_overlapping)


@mistake("BPETokenizer")
class BPELowestPairOnTies(_BPE):
    """ties between equally frequent pairs go to the lowest pair, not the first to occur"""

    def best(self, counts):
        return max(sorted(counts), key=counts.get)


@mistake("BPETokenizer")
class BPEEncodeReversed(_BPE):
    """encode applies the newest merges first (reversed): merges must go in training order"""

    def encode(self, text):
        ids = list(text.encode("utf-8"))
        for pair, new_id in reversed(self.merges.items()):
            ids = self.merge(ids, pair, new_id)
        return ids


@mistake("BPETokenizer")
class BPEMostFrequentFirst(_BPE):
    """encode merges the most frequent known pair of the text first, not the one training
    learnt first: a frequent late merge takes the ids an earlier one needed"""

    def encode(self, text):
        ids = list(text.encode("utf-8"))
        while True:
            counts = Counter(p for p in itertools.pairwise(ids) if p in self.merges)
            if not counts:
                return ids
            pair = max(counts, key=counts.get)
            ids = self.merge(ids, pair, self.merges[pair])


@mistake("BPETokenizer")
class BPEDecodeIgnore(_BPE):
    """decode with errors="ignore": invalid bytes vanish instead of becoming U+FFFD"""

    def decode(self, ids):
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="ignore")


@mistake("BPETokenizer")
class BPELatin1(_BPE):
    """text.encode("latin-1"): fails on anything outside Latin-1 (emoji, CJK)"""

    encoding = "latin-1"


@mistake("BPETokenizer")
class BPEOrd(_BPE):
    """ids = [ord(c) for c in text]: code points, not UTF-8 bytes"""

    def train(self, text, vocab_size):
        super().train(text, vocab_size)

    def encode(self, text):
        ids = [ord(c) for c in text]
        for pair, new_id in self.merges.items():
            ids = self.merge(ids, pair, new_id)
        return ids


@alternative("BPETokenizer")
class BPEMinRank(_BPE):
    """encode by repeatedly merging the present pair with the lowest merge id (minbpe)"""

    def encode(self, text):
        ids = list(text.encode("utf-8"))
        while len(ids) >= 2:
            pairs = set(itertools.pairwise(ids))
            pair = min(pairs, key=lambda p: self.merges.get(p, float("inf")))
            if pair not in self.merges:
                break
            ids = self.merge(ids, pair, self.merges[pair])
        return ids

    def decode(self, ids):
        if any(i not in self.vocab for i in ids):
            raise ValueError("unknown id")
        return bytes(b for i in ids for b in self.vocab[i]).decode("utf-8", "replace")
