"""Match the day's papers against every subscribed topic without testing every pair.

What a topic means is defined in :mod:`digestbot.topics`; :func:`reference_match` restates it in
the plainest possible code and the tests hold :class:`TopicIndex` to it.

How the index works
-------------------
1. *Build* (once per run, :class:`TopicIndex`): identical topics are merged (1,000,000
   subscriptions are mostly a few thousand popular topics and a long tail), and each distinct
   topic is filed under its **anchor**: one of its included words, the one expected to be
   rarest. A topic can only match when its anchor occurs somewhere in the batch.
2. *Per batch* (:meth:`TopicIndex.match_all`): each paper is tokenised once, and every word
   (and every prefix of a Hangul word, which turns Korean prefix matching into exact look-ups)
   gets a **paper bitset**, a Python int whose bit *j* says "paper *j* contains it". Then, for
   each anchor that occurs in the batch, each topic filed under it is evaluated *once for all
   papers*: the bitsets of its words are ANDed (in C, via ``reduce``), those of excluded words
   masked out, and each quoted phrase gets its own bitset, computed once per batch and cached
   (phrases are shared by many topics) by a substring search for " a b c " in the candidate
   papers' words joined by spaces (phrases with Hangul words use a fixed-shape pattern of
   escaped words, see :func:`_phrase_finder`). A 1,000-paper AND is a few machine words.
3. *Fan-out* (:class:`TopicMatches`): who matched is the subscribers of the topics with a
   non-empty bitset; each subscriber's ``(paper, topic)`` list is built when looked up.

So a batch costs one tokenising pass plus a few big-int operations per distinct topic whose
anchor occurs, never subscriptions x papers. A first version verified candidates paper by paper
(anchor word -> topics -> check positions); on 1,000 papers x 100,000 subscriptions it made 1.6 M
checks (LLM-era words like "llm" are in most papers) and took 2.0 s; the bitsets take 0.27 s
(0.20 s of it tokenising), and 0.56 s for 1,000,000 subscriptions (``python -m bench.match``).
An Aho-Corasick automaton over the topic words was the other option; in pure Python it walks
every character of every paper (~5 M for 1,000 papers) in interpreted code, while the tokenising
regex and the bit operations run in C, and it would have to re-implement the whole-word and
Hangul-prefix rules on characters.

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
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import reduce
from itertools import chain, repeat
from operator import and_
from typing import Generic, TypeVar

from digestbot.records import Paper
from digestbot.topics import Term, Topic, is_hangul, paper_fields, tokenize

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

# A paper prepared for matching: its words in reading order with _BOUNDARY closing each field
# (it is never a word, so no phrase spans two fields).
_BOUNDARY = "\n"
_Sequence = list[str]


def _word_matches(topic_word: str, paper_word: str) -> bool:
    """Tell whether one topic word matches one paper word (Hangul words match as prefixes)."""
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


def _sequence(paper: Paper) -> _Sequence:
    """Tokenise ``paper`` into one word sequence, ``_BOUNDARY`` closing each field."""
    seq: _Sequence = []
    for text in paper_fields(paper):
        if text:
            seq.extend(tokenize(text))
            seq.append(_BOUNDARY)
    return seq


def _prefixed(words: Iterable[str]) -> list[str]:
    """Return the Hangul words among ``words`` that are longer than one syllable."""
    # The range test skips the regex for the Latin words that make up most text.
    return [w for w in words if w[0] >= "\u1100" and len(w) > 1 and is_hangul(w)]


def _word_set(seq: _Sequence) -> set[str]:
    """Return the distinct words of ``seq``, plus every prefix of its Hangul words."""
    words = set(seq)
    words.discard(_BOUNDARY)
    for word in _prefixed(words):
        words.update(word[:end] for end in range(1, len(word)))
    return words


class _Batch:
    """The papers of one ``match_all`` call, tokenised, with a paper bitset per word."""

    def __init__(self, papers: list[Paper]) -> None:
        self.sequences = [_sequence(paper) for paper in papers]
        bits: dict[str, int] = {}
        get = bits.get
        for j, seq in enumerate(self.sequences):
            bit = 1 << j
            for word in _word_set(seq):
                bits[word] = get(word, 0) | bit
        self.bits = bits
        self.everything = (1 << len(papers)) - 1
        self._phrases: dict[Term, int] = {}
        self._texts: dict[int, str] = {}  # " word word \n word ... ", for papers phrases are sought in

    def phrase(self, phrase: Term, prefix: tuple[bool, ...]) -> int:
        """Return the bitset of the papers containing ``phrase`` (computed once per batch)."""
        found = self._phrases.get(phrase)
        if found is None:
            candidates = self.everything
            for word in phrase:
                candidates &= self.bits.get(word, 0)
            found = 0
            find = _phrase_finder(phrase, prefix)
            for j in _bit_indexes(candidates):
                if (text := self._texts.get(j)) is None:
                    text = self._texts[j] = f" {' '.join(self.sequences[j])} "
                if find(text):
                    found |= 1 << j
            self._phrases[phrase] = found
        return found


def _phrase_finder(phrase: Term, prefix: tuple[bool, ...]) -> Callable[[str], object]:
    """Return a test for ``phrase`` in a paper's words joined by single spaces.

    " a b " occurs in such a text exactly where the words a, b are adjacent, so most phrases
    are a substring search in C. A Hangul word matches as a prefix, which a substring cannot
    say: those phrases become a pattern of the escaped words, each Hangul one followed by
    ``[^ ]*`` (the rest of that word). The shape is fixed and the words are escaped, so this
    is no user-supplied regex, and it runs in time linear in the text times the word length.
    """
    if not any(prefix):
        needle = f" {' '.join(phrase)} "
        return lambda text: needle in text
    parts = [re.escape(word) + ("[^ ]*" if is_prefix else "") for word, is_prefix in zip(phrase, prefix, strict=True)]
    return re.compile(" " + " ".join(parts) + ("" if prefix[-1] else " ")).search


def _bit_indexes(bits: int) -> Iterator[int]:
    """Yield the indexes of the set bits of ``bits``, lowest first."""
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


@dataclass(frozen=True, kw_only=True, slots=True)
class _Check:
    """What is left to test of a topic once the papers holding all its words are known."""

    phrases: tuple[tuple[Term, tuple[bool, ...]], ...]
    excluded_words: tuple[str, ...]
    excluded_phrases: tuple[tuple[Term, tuple[bool, ...]], ...]

    def refine(self, found: int, batch: _Batch) -> int:
        """Narrow ``found`` (papers with every included word) to the papers the topic matches."""
        bits = batch.bits
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


def _compile(topic: Topic) -> tuple[tuple[str, ...], _Check | None]:
    """Split ``topic`` into the words every match contains and, if needed, the rest to test."""
    words = tuple(dict.fromkeys(w for term in topic.include for w in term))
    phrases = tuple(_with_prefix_flags(t) for t in topic.include if len(t) > 1)
    if not phrases and not topic.exclude:
        return words, None
    return words, _Check(
        phrases=phrases,
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
        # Subscribers are numbered: small ints hash and collect much faster than, say, tuples.
        self._sid: dict[K, int] = {}
        self._keys: list[K] = []
        self._subscribers: list[list[int]] = []  # topic id -> subscriber numbers
        self._topics_of: list[list[int]] = []  # subscriber number -> topic ids, as subscribed
        for key, topic in subscriptions:
            tid = ids.get(topic)
            if tid is None:
                tid = ids[topic] = len(self._topics)
                self._topics.append(topic)
                self._subscribers.append([])
            sid = self._sid.get(key)
            if sid is None:
                sid = self._sid[key] = len(self._keys)
                self._keys.append(key)
                self._topics_of.append([tid])
            elif tid in self._topics_of[sid]:
                continue  # the same subscription twice counts once
            else:
                self._topics_of[sid].append(tid)
            self._subscribers[tid].append(sid)

        if word_frequency is None:
            used_by = Counter(w for topic in self._topics for w in {w for t in topic.include for w in t})
        else:
            used_by = Counter(word_frequency)

        # anchor word -> ids of the topics that are just that word (its bitset is their answer)
        self._plain: dict[str, list[int]] = defaultdict(list)
        # anchor word -> (topic id, its words, what else to test) for every other topic
        self._checked: dict[str, list[tuple[int, tuple[str, ...], _Check | None]]] = defaultdict(list)
        for tid, topic in enumerate(self._topics):
            words = {w for term in topic.include for w in term}
            anchor = min(words, key=lambda w: (used_by[w], -len(w), w))
            if not topic.exclude and topic.include == ((anchor,),):
                self._plain[anchor].append(tid)
            else:
                self._checked[anchor].append((tid, *_compile(topic)))
        self._plain = dict(self._plain)
        self._checked = dict(self._checked)
        # Rank of each topic's canonical text, to order one paper's topics within a result.
        self._rank = [0] * len(self._topics)
        for r, tid in enumerate(sorted(range(len(self._topics)), key=lambda t: self._topics[t].canonical)):
            self._rank[tid] = r
        log.debug(
            "indexed %d topics (%d subscribers) under %d anchor words",
            len(self._topics),
            len(self._keys),
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
        get, zeros, checked = bits.get, repeat(0), self._checked
        for word in checked.keys() & bits.keys():
            for tid, words, check in checked[word]:
                # AND of the words' bitsets, looped in C: most topics need nothing more.
                found = reduce(and_, map(get, words, zeros))
                if found and check is not None:
                    found = check.refine(found, batch)
                if found:
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
        # Subscriber numbers of every matching topic, collected in C.
        self._sids = set(chain.from_iterable(subscribers[tid] for tid in hits))
        self._pairs_of: dict[int, list[tuple[Paper, Topic]]] = {}
        self._codes_of: dict[int, list[int]] = {}
        self._pair_of_code: dict[int, tuple[Paper, Topic]] = {}

    def __len__(self) -> int:
        return len(self._sids)

    def __iter__(self) -> Iterator[K]:
        keys = self._index._keys
        return (keys[sid] for sid in self._sids)

    def __contains__(self, key: object) -> bool:
        sid = self._index._sid.get(key)  # type: ignore[arg-type]  # any object may be asked
        return sid is not None and sid in self._sids

    def __getitem__(self, key: K) -> list[tuple[Paper, Topic]]:
        tids = self._matched_topics(key)
        if not tids:
            raise KeyError(key)
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
        tids = self._matched_topics(key)
        tids.sort(key=self._index._rank.__getitem__)
        return [self._index._topics[tid] for tid in tids]

    def _matched_topics(self, key: K) -> list[int]:
        sid = self._index._sid.get(key)
        if sid is None:
            return []
        return [tid for tid in self._index._topics_of[sid] if tid in self._hits]

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
