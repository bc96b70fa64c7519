"""Match the day's papers against every subscribed topic without testing every pair.

What a topic means is defined in :mod:`digestbot.topics`; :func:`reference_match` restates it in
the plainest possible code and the tests hold :class:`TopicIndex` to it.

How the index works
-------------------
1. *Build* (once per run, :class:`TopicIndex`): identical topics are merged (1,000,000
   subscriptions are mostly a few thousand popular topics and a long tail), and each distinct
   topic is filed under its **anchor**: one of its included words, the one expected to be
   rarest. A topic can only match when its anchor occurs somewhere in the batch.
2. *Per batch* (:meth:`TopicIndex.match_all`): each paper is tokenised once into a word ->
   positions map (a Hangul word is also filed under each of its prefixes, which turns Korean
   prefix matching into exact look-ups), and every word gets a **paper bitset**, a Python int
   whose bit *j* says "paper *j* contains it". Then, for each anchor that occurs in the batch,
   each topic filed under it is evaluated *once for all papers*: the bitsets of its words are
   ANDed, those of excluded words masked out, and each quoted phrase's bitset is computed once
   per batch (adjacency checked on the positions of the candidate papers only) and cached,
   because phrases are shared by many topics. A 1,000-paper AND is a few machine words in C.
3. *Fan-out* (:class:`TopicMatches`): who matched is the subscribers of the topics with a
   non-empty bitset; each subscriber's ``(paper, topic)`` list is built when looked up.

So a batch costs one tokenising pass plus a few big-int operations per distinct topic whose
anchor occurs, never subscriptions x papers. A first version verified candidates paper by paper
(anchor word -> topics -> check positions); on 1,000 papers x 100,000 subscriptions it made 1.6 M
checks (LLM-era words like "llm" are in most papers) and took 2.0 s, the bitsets take a fraction
of that (see ``python -m bench.match``). An Aho-Corasick automaton over the topic words was the
other option; in pure Python it walks every character of every paper (~5 M for 1,000 papers) in
interpreted code, while the tokenising regex and the bit operations run in C, and phrases need
word positions anyway.

The anchor is the word used by the fewest distinct topics (a word in many topics, like "llm",
tends to be common in papers too), ties going to the longer word; a caller that knows real
document frequencies (e.g. from recent digests) can pass them as ``word_frequency``. A poor
anchor only costs time: the topic is evaluated whenever the anchor occurs, once per batch.

Results list ``(paper, topic)`` pairs in the order the papers were given, and for one paper in
order of the topics' canonical text. A subscriber's duplicate subscriptions count once;
subscribers with no match are absent from the result.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Generic, TypeVar

from digestbot.records import Paper
from digestbot.topics import Term, Topic, is_hangul, paper_fields, tokenize

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

# A paper prepared for matching: its words in reading order, ``None`` between fields so that no
# phrase spans two, and each word's positions (Hangul words also under each of their prefixes).
_Sequence = list[str | None]
_Positions = dict[str, list[int]]


def _word_matches(topic_word: str, paper_word: str | None) -> bool:
    """Tell whether one topic word matches one paper word (Hangul words match as prefixes)."""
    if paper_word is None:
        return False
    if is_hangul(topic_word):
        return paper_word.startswith(topic_word)
    return paper_word == topic_word


def _term_in_field(term: Term, words: list[str]) -> bool:
    return any(
        all(_word_matches(t, words[start + i]) for i, t in enumerate(term))
        for start in range(len(words) - len(term) + 1)
    )


def reference_match(topic: Topic, paper: Paper) -> bool:
    """Tell whether ``topic`` matches ``paper``, in slow and obviously correct code (for tests)."""
    return _reference_match_fields(topic, [tokenize(text) for text in paper_fields(paper)])


def _reference_match_fields(topic: Topic, fields: list[list[str]]) -> bool:
    """Match like :func:`reference_match` on a paper already tokenised field by field."""

    def occurs(term: Term) -> bool:
        return any(_term_in_field(term, words) for words in fields)

    return all(occurs(t) for t in topic.include) and not any(occurs(t) for t in topic.exclude)


def _prepare(paper: Paper) -> tuple[_Sequence, _Positions]:
    """Tokenise ``paper`` once into the word sequence and the positions map used for verifying."""
    seq: _Sequence = []
    for text in paper_fields(paper):
        if text:
            seq.extend(tokenize(text))
            seq.append(None)
    positions: _Positions = {}
    for i, word in enumerate(seq):
        if word is not None:
            if (at := positions.get(word)) is None:
                positions[word] = [i]
            else:
                at.append(i)
    hangul = [(w, tuple(at)) for w, at in positions.items() if len(w) > 1 and is_hangul(w)]
    for word, at in hangul:
        for end in range(1, len(word)):
            positions.setdefault(word[:end], []).extend(at)
    return seq, positions


def _phrase_occurs(phrase: Term, prefix: tuple[bool, ...], seq: _Sequence, positions: _Positions) -> bool:
    """Tell whether the words of ``phrase`` occur adjacent and in order in the prepared paper."""
    n = len(seq)
    for start in positions.get(phrase[0], ()):
        end = start + len(phrase)
        if end > n:
            continue
        for i in range(1, len(phrase)):
            word = seq[start + i]
            if word is None or not (word.startswith(phrase[i]) if prefix[i] else word == phrase[i]):
                break
        else:
            return True
    return False


class _Batch:
    """The papers of one ``match_all`` call, tokenised, with a paper bitset per word."""

    def __init__(self, papers: list[Paper]) -> None:
        self.prepared = [_prepare(paper) for paper in papers]
        bits: dict[str, int] = {}
        get = bits.get
        for j, (_, positions) in enumerate(self.prepared):
            bit = 1 << j
            for word in positions:
                bits[word] = get(word, 0) | bit
        self.bits = bits
        self.everything = (1 << len(papers)) - 1
        self._phrases: dict[Term, int] = {}

    def phrase(self, phrase: Term, prefix: tuple[bool, ...]) -> int:
        """Return the bitset of the papers containing ``phrase`` (computed once per batch)."""
        found = self._phrases.get(phrase)
        if found is None:
            candidates = self.everything
            for word in phrase:
                candidates &= self.bits.get(word, 0)
            found = 0
            for j in _bit_indexes(candidates):
                seq, positions = self.prepared[j]
                if _phrase_occurs(phrase, prefix, seq, positions):
                    found |= 1 << j
            self._phrases[phrase] = found
        return found


def _bit_indexes(bits: int) -> Iterator[int]:
    """Yield the indexes of the set bits of ``bits``, lowest first."""
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


@dataclass(frozen=True, kw_only=True, slots=True)
class _Check:
    """One topic, compiled for evaluating against a whole batch at once."""

    words: tuple[str, ...]
    phrases: tuple[tuple[Term, tuple[bool, ...]], ...]
    excluded_words: tuple[str, ...]
    excluded_phrases: tuple[tuple[Term, tuple[bool, ...]], ...]

    def papers(self, batch: _Batch) -> int:
        """Return the bitset of the batch's papers that this topic matches."""
        bits = batch.bits
        found = batch.everything
        for word in self.words:
            found &= bits.get(word, 0)
            if not found:
                return 0
        for word in self.excluded_words:
            found &= ~bits.get(word, 0)
        for phrase, prefix in self.phrases:
            if not found:
                return 0
            found &= batch.phrase(phrase, prefix)
        for phrase, prefix in self.excluded_phrases:
            if not found:
                return 0
            found &= ~batch.phrase(phrase, prefix)
        return found


def _with_prefix_flags(term: Term) -> tuple[Term, tuple[bool, ...]]:
    return term, tuple(is_hangul(w) for w in term)


def _check_for(topic: Topic) -> _Check:
    """Compile ``topic``; the words of its phrases are ANDed first, as a cheap pre-filter."""
    words = dict.fromkeys(w for term in topic.include for w in term)
    return _Check(
        words=tuple(words),
        phrases=tuple(_with_prefix_flags(t) for t in topic.include if len(t) > 1),
        excluded_words=tuple(t[0] for t in topic.exclude if len(t) == 1),
        excluded_phrases=tuple(_with_prefix_flags(t) for t in topic.exclude if len(t) > 1),
    )


class TopicIndex(Generic[K]):
    """Every subscription of a run, indexed so that a batch of papers is matched per distinct topic."""

    def __init__(
        self,
        subscriptions: Iterable[tuple[K, Topic]],
        *,
        word_frequency: Mapping[str, int] | None = None,
    ) -> None:
        """Index ``(subscriber, topic)`` pairs; ``word_frequency`` (lower = rarer) picks anchors if given."""
        ids: dict[Topic, int] = {}
        self._topics: list[Topic] = []
        self._subscribers: list[list[K]] = []  # topic id -> subscribers
        self._topics_of: dict[K, list[int]] = {}  # subscriber -> topic ids, as subscribed
        for key, topic in subscriptions:
            tid = ids.get(topic)
            if tid is None:
                tid = ids[topic] = len(self._topics)
                self._topics.append(topic)
                self._subscribers.append([])
            if (mine := self._topics_of.get(key)) is None:
                self._topics_of[key] = [tid]
            elif tid in mine:
                continue  # the same subscription twice counts once
            else:
                mine.append(tid)
            self._subscribers[tid].append(key)

        if word_frequency is None:
            used_by = Counter(w for topic in self._topics for w in {w for t in topic.include for w in t})
        else:
            used_by = Counter(word_frequency)

        # anchor word -> ids of the topics that are just that word (its bitset is their answer)
        self._plain: dict[str, list[int]] = defaultdict(list)
        # anchor word -> (topic id, compiled topic) for every other topic
        self._checked: dict[str, list[tuple[int, _Check]]] = defaultdict(list)
        for tid, topic in enumerate(self._topics):
            words = {w for term in topic.include for w in term}
            anchor = min(words, key=lambda w: (used_by[w], -len(w), w))
            if not topic.exclude and topic.include == ((anchor,),):
                self._plain[anchor].append(tid)
            else:
                self._checked[anchor].append((tid, _check_for(topic)))
        self._plain = dict(self._plain)
        self._checked = dict(self._checked)
        # Rank of each topic's canonical text, to order one paper's topics within a result.
        self._rank = [0] * len(self._topics)
        for r, tid in enumerate(sorted(range(len(self._topics)), key=lambda t: self._topics[t].canonical)):
            self._rank[tid] = r
        log.debug(
            "indexed %d topics (%d subscribers) under %d anchor words",
            len(self._topics),
            len(self._topics_of),
            len(self._plain.keys() | self._checked.keys()),
        )

    @property
    def topic_count(self) -> int:
        """Number of distinct topics indexed (identical subscriptions are stored once)."""
        return len(self._topics)

    def match(self, paper: Paper) -> dict[K, list[Topic]]:
        """Return, for each subscriber with a topic matching ``paper``, those topics."""
        matches = self.match_all([paper])
        return {key: matches.topics_of(key) for key in matches}

    def match_all(self, papers: Iterable[Paper]) -> TopicMatches[K]:
        """Return, for each subscriber with any match, its ``(paper, topic)`` pairs in paper order.

        The result is a read-only mapping whose lists are built when looked up (see
        :class:`TopicMatches`); ``dict(result)`` builds them all at once.
        """
        papers = list(papers)
        batch = _Batch(papers)
        bits = batch.bits
        hits: dict[int, int] = {}  # topic id -> bitset of the papers it matches
        for word, tids in self._plain.items():
            if (found := bits.get(word)) is not None:
                hits.update(dict.fromkeys(tids, found))
        checked = self._checked
        for word in checked.keys() & bits.keys():
            for tid, check in checked[word]:
                if found := check.papers(batch):
                    hits[tid] = found
        return TopicMatches(index=self, papers=papers, hits=hits)


class TopicMatches(Mapping[K, list[tuple[Paper, Topic]]], Generic[K]):
    """Which subscribers matched, each mapped to its ``(paper, topic)`` pairs in paper order.

    Pairs of one paper are ordered by the topics' canonical text; subscribers without a match
    are absent. Who matched is known at once (iterating and ``len`` are cheap), but each
    subscriber's list is built when it is looked up, as a fresh list the caller may change:
    1,000 papers x 1,000,000 subscriptions can come to ~10^8 pairs, which take far longer to
    build than the matching itself, and a notifier needs one subscriber's list at a time.
    """

    def __init__(self, *, index: TopicIndex[K], papers: list[Paper], hits: dict[int, int]) -> None:
        self._index = index
        self._papers = papers
        self._hits = hits  # topic id -> bitset of the papers it matched
        subscribers = index._subscribers
        # Keys in order of first matching topic; dict.fromkeys and chain keep the loop in C.
        self._keys = dict.fromkeys(chain.from_iterable(subscribers[tid] for tid in hits))
        self._pairs_of: dict[int, list[tuple[Paper, Topic]]] = {}
        self._codes_of: dict[int, list[int]] = {}
        self._pair_of_code: dict[int, tuple[Paper, Topic]] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[K]:
        return iter(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __getitem__(self, key: K) -> list[tuple[Paper, Topic]]:
        if key not in self._keys:
            raise KeyError(key)
        tids = [tid for tid in self._index._topics_of[key] if tid in self._hits]
        if len(tids) == 1:
            return self._pairs(tids[0]).copy()
        # Several topics: interleave by paper, then topic. Sorting pairs with a Python key
        # function took ~30 s for 45 M pairs; int codes (paper index, then topic rank) sort and
        # map back in C instead.
        codes: list[int] = []
        for tid in tids:
            codes += self._codes(tid)
        codes.sort()
        return list(map(self._pair_of_code.__getitem__, codes))

    def topics_of(self, key: K) -> list[Topic]:
        """Return the topics of ``key`` that matched any paper, by canonical text, without building pairs."""
        index = self._index
        tids = [tid for tid in index._topics_of.get(key, ()) if tid in self._hits]
        tids.sort(key=index._rank.__getitem__)
        return [index._topics[tid] for tid in tids]

    def _pairs(self, tid: int) -> list[tuple[Paper, Topic]]:
        if (pairs := self._pairs_of.get(tid)) is None:
            topic, papers = self._index._topics[tid], self._papers
            pairs = self._pairs_of[tid] = [(papers[i], topic) for i in _bit_indexes(self._hits[tid])]
        return pairs

    def _codes(self, tid: int) -> list[int]:
        if (codes := self._codes_of.get(tid)) is None:
            rank, width = self._index._rank[tid], len(self._index._topics)
            codes = self._codes_of[tid] = [i * width + rank for i in _bit_indexes(self._hits[tid])]
            self._pair_of_code.update(zip(codes, self._pairs(tid), strict=True))
        return codes
