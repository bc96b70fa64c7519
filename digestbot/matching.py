"""Match the day's papers against every subscribed topic without testing every pair.

What a topic means is defined in :mod:`digestbot.topics`; :func:`reference_match` restates it in
the plainest possible code and the tests hold :class:`TopicIndex` to it.

How the index works
-------------------
1. *Build* (once per process, :class:`TopicIndex`; then :meth:`~TopicIndex.add` and
   :meth:`~TopicIndex.remove` per subscribe and unsubscribe, see
   :mod:`digestbot.subscription_index`): identical topics are merged (1,000,000 subscriptions
   are a few popular topics and a long tail), and each distinct topic is filed under its
   **anchor**: one of its included words, the one expected to be rarest. A topic can only
   match when its anchor occurs somewhere in the batch.
2. *Per batch* (:meth:`TopicIndex.match_all`): each paper is tokenised once (ASCII text through
   a faster equivalent path), and every word that some topic uses (and every such prefix of a
   Hangul word, which turns Korean prefix matching into exact look-ups) gets a **paper
   bitset**, a Python int whose bit *j* says "paper *j* contains it". Then, for
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
checks (LLM-era words like "llm" are in most papers) and took 2.0 s. ``python -m bench.match``
keeps that comparison honest: a token dictionary and pyahocorasick, same answers, same run.
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
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import reduce
from itertools import chain, filterfalse, repeat
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


# For ASCII text, NFKC changes nothing, casefold is lower(), and the letters, digits and marks
# of topics.tokenize are exactly [a-z0-9]: the same words, about twice as fast (most of a paper
# is English; tokenising is most of a batch's cost).
_ASCII_WORD = re.compile(r"[a-z0-9]+")


def _tokenize(text: str) -> list[str]:
    """Split ``text`` into words exactly like :func:`~digestbot.topics.tokenize`, faster for ASCII."""
    if text.isascii():
        return _ASCII_WORD.findall(text.lower())
    return tokenize(text)


def _sequence(paper: Paper) -> _Sequence:
    """Tokenise ``paper`` into one word sequence, ``_BOUNDARY`` closing each field."""
    seq: _Sequence = []
    for text in paper_fields(paper):
        if text:
            seq.extend(_tokenize(text))
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


def _vocabulary_prefixes(word: str, vocabulary: AbstractSet[str]) -> tuple[str, ...]:
    """Return the proper prefixes of a Hangul ``word`` that some topic uses (none for other words)."""
    if len(word) < 2 or not is_hangul(word):
        return ()
    return tuple(p for p in (word[:end] for end in range(1, len(word))) if p in vocabulary)


class _Batch:
    """The papers of one ``match_all`` call, tokenised, with a paper bitset per word."""

    def __init__(self, papers: list[Paper], vocabulary: AbstractSet[str] | None = None) -> None:
        """Tokenise ``papers``; bitsets only for the words in ``vocabulary`` when given."""
        self.sequences = [_sequence(paper) for paper in papers]
        bits: dict[str, int] = {}
        get = bits.get
        # Non-ASCII word -> the vocabulary words among its Hangul prefixes. Korean words repeat
        # across papers ("모델을", "모델의"), so each is expanded once per batch, not per paper.
        expansion: dict[str, tuple[str, ...]] = {}
        for j, seq in enumerate(self.sequences):
            bit = 1 << j
            if vocabulary is None:
                words = _word_set(seq)
            else:
                distinct = set(seq)
                words = distinct & vocabulary  # C: iterates the paper's words, not the vocabulary
                others = set(filterfalse(str.isascii, distinct))
                for word in others.difference(expansion):
                    expansion[word] = _vocabulary_prefixes(word, vocabulary)
                words.update(chain.from_iterable(map(expansion.__getitem__, others)))
            for word in words:
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
    """Every subscription of a process, indexed so that a batch of papers is matched per distinct topic.

    The index is built once and then kept current with :meth:`add` and :meth:`remove` (a
    subscribe or unsubscribe costs a few dict operations, never a rebuild). It is not locked:
    change it from one thread at a time, and not while :meth:`match_all` runs in another.
    """

    def __init__(
        self,
        subscriptions: Iterable[tuple[K, Topic]] = (),
        *,
        word_frequency: Mapping[str, int] | None = None,
    ) -> None:
        """Index ``(subscriber, topic)`` pairs; ``word_frequency`` (lower = rarer) picks anchors if given."""
        self._tid: dict[Topic, int] = {}
        self._topics: list[Topic] = []
        # Subscribers are numbered: small ints hash and collect much faster than, say, tuples.
        self._sid: dict[K, int] = {}
        self._keys: list[K] = []
        self._subscribers: list[dict[int, None]] = []  # topic id -> subscriber numbers (ordered set)
        self._topics_of: list[list[int]] = []  # subscriber number -> topic ids, as subscribed
        self._anchor: list[str | None] = []  # topic id -> its anchor word while it has subscribers
        # anchor word -> ids of the topics that are just that word (its bitset is their answer)
        self._plain: dict[str, dict[int, None]] = {}
        # anchor word -> topic id -> (its words, what else to test) for every other topic
        self._checked: dict[str, dict[int, tuple[tuple[str, ...], _Check | None]]] = {}
        # word -> how many live topics use it (included or excluded), and those words as a set:
        # papers' other words decide nothing, so they get no bitset.
        self._vocabulary: Counter[str] = Counter()
        self._vocabulary_set: set[str] = set()
        # How many indexed topics use each word (anchors go to the least used), unless the
        # caller knows better (``word_frequency``, kept by reference: it may fill in later).
        own: Counter[str] = Counter()
        self._frequency: Mapping[str, int] = word_frequency if word_frequency is not None else own
        self._counts: Counter[str] | None = None  # ours, once built: a new topic's words are counted as it comes
        pairs = list(subscriptions)
        if word_frequency is None:
            # Anchors are best chosen knowing every topic: count the words of all of them first.
            own.update(w for topic in {t for _, t in pairs} for w in _words_of(topic))
        for key, topic in pairs:
            self.add(key, topic)
        if word_frequency is None:
            self._counts = own
        log.debug("indexed %d topics (%d subscribers)", len(self._topics), len(self._keys))

    @property
    def topic_count(self) -> int:
        """Number of distinct topics with a subscriber (identical subscriptions are stored once)."""
        return sum(1 for anchor in self._anchor if anchor is not None)

    def __len__(self) -> int:
        """Return the number of (subscriber, topic) subscriptions indexed."""
        return sum(map(len, self._topics_of))

    def add(self, key: K, topic: Topic) -> bool:
        """Subscribe ``key`` to ``topic``; False if it already was (the same subscription counts once)."""
        tid = self._tid.get(topic)
        if tid is None:
            tid = self._tid[topic] = len(self._topics)
            self._topics.append(topic)
            self._subscribers.append({})
            self._anchor.append(None)
            if self._counts is not None:
                self._counts.update(_words_of(topic))
        sid = self._sid.get(key)
        if sid is None:
            sid = self._sid[key] = len(self._keys)
            self._keys.append(key)
            self._topics_of.append([])
        subscribers = self._subscribers[tid]
        if sid in subscribers:
            return False
        subscribers[sid] = None
        self._topics_of[sid].append(tid)
        if self._anchor[tid] is None:
            self._file(tid, topic)
        return True

    def remove(self, key: K, topic: Topic) -> bool:
        """Unsubscribe ``key`` from ``topic``; False if it was not subscribed."""
        tid, sid = self._tid.get(topic), self._sid.get(key)
        if tid is None or sid is None or sid not in self._subscribers[tid]:
            return False
        del self._subscribers[tid][sid]
        self._topics_of[sid].remove(tid)
        if not self._subscribers[tid]:
            # Nobody follows it any more: stop evaluating it (its id stays, for a re-subscribe).
            anchor = self._anchor[tid]
            self._anchor[tid] = None
            for word in _all_words(self._topics[tid]):
                self._vocabulary[word] -= 1
                if self._vocabulary[word] <= 0:
                    del self._vocabulary[word]
                    self._vocabulary_set.discard(word)
            for group in (self._plain, self._checked):
                members = group.get(anchor or "")
                if members is not None and tid in members:
                    del members[tid]
                    if not members:
                        del group[anchor or ""]
        return True

    def _file(self, tid: int, topic: Topic) -> None:
        """File topic ``tid`` under its anchor: its included word used by the fewest topics."""
        used_by = self._frequency.get
        anchor = min(_words_of(topic), key=lambda w: (used_by(w, 0), -len(w), w))
        self._anchor[tid] = anchor
        for word in _all_words(topic):
            self._vocabulary[word] += 1
            self._vocabulary_set.add(word)
        if not topic.exclude and topic.include == ((anchor,),):
            self._plain.setdefault(anchor, {})[tid] = None
        else:
            self._checked.setdefault(anchor, {})[tid] = _compile(topic)

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
        batch = _Batch(papers, self._vocabulary_set)
        bits = batch.bits
        hits: dict[int, int] = {}  # topic id -> bitset of the papers it matches
        plain = self._plain
        for word in plain.keys() & bits.keys():
            hits.update(dict.fromkeys(plain[word], bits[word]))
        get, zeros, checked = bits.get, repeat(0), self._checked
        for word in checked.keys() & bits.keys():
            for tid, (words, check) in checked[word].items():
                # AND of the words' bitsets, looped in C: most topics need nothing more.
                found = reduce(and_, map(get, words, zeros))
                if found and check is not None:
                    found = check.refine(found, batch)
                if found:
                    hits[tid] = found
        return TopicMatches(index=self, papers=papers, hits=hits)


def _words_of(topic: Topic) -> set[str]:
    return {w for term in topic.include for w in term}


def _all_words(topic: Topic) -> set[str]:
    return {w for term in (*topic.include, *topic.exclude) for w in term}


class TopicMatches(Mapping[K, list[tuple[Paper, Topic]]], Generic[K]):
    """Which subscribers matched, each mapped to its ``(paper, topic)`` pairs in paper order.

    Pairs of one paper are ordered by the topics' canonical text; subscribers without a match
    are absent. Who matched is known at once (iterating and ``len`` are cheap), but each
    subscriber's list is built when it is looked up, as a fresh list the caller may change:
    1,000 papers x 1,000,000 subscriptions can come to ~10^8 pairs, which take far longer to
    build than the matching itself, and a notifier needs one subscriber's list at a time.
    A subscriber's topics are read from the index when the list is built, so an unsubscribe
    that lands meanwhile is honoured.
    """

    def __init__(self, *, index: TopicIndex[K], papers: list[Paper], hits: dict[int, int]) -> None:
        self._index = index
        self._papers = papers
        self._hits = hits  # topic id -> bitset of the papers it matched
        subscribers = index._subscribers
        # Subscriber numbers of every matching topic, collected in C.
        self._sids = set(chain.from_iterable(subscribers[tid] for tid in hits))
        self._indexes_of: dict[int, list[int]] = {}

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
        topics, papers = self._index._topics, self._papers
        if len(tids) == 1:
            topic = topics[tids[0]]
            return [(papers[i], topic) for i in self._indexes(tids[0])]
        # Several topics: interleave by paper, then topic (by canonical text). Int codes
        # (paper index, then the topic's rank among this subscriber's) sort in C.
        tids.sort(key=lambda t: topics[t].canonical)
        width = len(tids)
        codes: list[int] = []
        for rank, tid in enumerate(tids):
            codes += [i * width + rank for i in self._indexes(tid)]
        codes.sort()
        return [(papers[code // width], topics[tids[code % width]]) for code in codes]

    def topics_of(self, key: K) -> list[Topic]:
        """Return the topics of ``key`` that matched any paper, by canonical text, without building pairs."""
        topics = self._index._topics
        return sorted((topics[tid] for tid in self._matched_topics(key)), key=lambda t: t.canonical)

    def _matched_topics(self, key: K) -> list[int]:
        sid = self._index._sid.get(key)
        if sid is None or sid not in self._sids:
            return []
        return [tid for tid in self._index._topics_of[sid] if tid in self._hits]

    def _indexes(self, tid: int) -> list[int]:
        """Return the indexes of the papers topic ``tid`` matched (decoded once per topic)."""
        if (found := self._indexes_of.get(tid)) is None:
            found = self._indexes_of[tid] = list(_bit_indexes(self._hits[tid]))
        return found
