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
2. *Per batch* (:meth:`TopicIndex.match_all`): each paper is tokenised once (ASCII fields by
   ``str.translate`` and ``split`` in C; other fields cut at whitespace, each distinct chunk
   tokenised once per batch, by a small regex when it is only ASCII and Hangul syllables), and
   every word that some topic uses (and every such prefix of a Hangul word, which turns Korean
   prefix matching into exact look-ups) gets a **paper bitset**, a Python int whose bit *j*
   says "paper *j* contains it". Topics are filed under their anchor by **shape**, and at build
   time each anchor's topics of one shape are laid out as **columns** (topic ids; their first
   other term; their second; ...). For each anchor that occurs in the batch, all topics of one
   shape are evaluated *at once for all papers* by a chain of lazy ``map`` calls in C: the
   anchor's bitset ANDed with each column's terms: other words, quoted phrases, and excluded
   terms as the complement of their papers. A word of the topic's own phrase is implied by
   the phrase and not ANDed again (when the anchor is such a word, the phrase's bitset starts
   instead). A phrase's bitset is computed on first use and kept for the batch (phrases are
   shared by many topics) by searching the candidate papers' lowered text with a fixed-shape
   pattern of escaped words (:func:`_simple_phrase_finder`; fields with letters beyond ASCII and
   Hangul syllables are searched in their words joined by spaces, :func:`_phrase_finder`): no
   paper's words are kept past its tokenising, since in a process holding 1,000,000
   subscriptions a batch's 300,000 words kept alive land in cold memory and cost more than
   splitting them. A 1,000-paper AND is a few machine words. Terms are interned, so
   the 100,000s of look-ups per batch find one hot string per word by identity (a cold copy
   per topic cost 10x as much at 1,000,000 subscriptions: memory, not arithmetic, was the cost).
3. *Fan-out* (:class:`TopicMatches`): the result is the bitset of each matching topic; who
   matched (those topics' subscribers) is walked lazily, and each subscriber's
   ``(paper, topic)`` list is built when looked up, as the DMs go out.

So a batch costs one tokenising pass plus a few big-int operations per distinct topic whose
anchor occurs, never subscriptions x papers. A first version verified candidates paper by paper
(anchor word -> topics -> check positions); on 1,000 papers x 100,000 subscriptions it made 1.6 M
checks (LLM-era words like "llm" are in most papers) and took 2.0 s; a per-topic Python loop
over the same bitsets took ~0.6 s at 1,000,000 subscriptions, and collecting the ~400,000
matched subscribers into a set another ~0.4 s, which is why both are now done in C or lazily.
``python -m bench.match``
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
import sys
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from functools import reduce
from itertools import chain, compress, repeat
from operator import and_, itemgetter
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
# of topics.tokenize are exactly [a-z0-9]. So every other ASCII character becomes a space (A-Z
# becomes a-z) and str.split() cuts there: the same words, in C, about three times as fast as
# the Unicode regex (most of a paper is English; tokenising is most of a batch's cost).
_ASCII_TABLE = str.maketrans({chr(c): chr(c).lower() if chr(c).isalnum() else " " for c in range(128)})


def _tokenize(text: str) -> list[str]:
    """Split ``text`` into words exactly like :func:`~digestbot.topics.tokenize`, faster for ASCII."""
    if text.isascii():
        return text.translate(_ASCII_TABLE).split()
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


# Words never span whitespace (str.split's whitespace is no letter, digit or mark, and NFKC
# composes nothing across it), so non-ASCII text can be tokenised chunk by chunk between
# whitespace. Chunks repeat across a day's papers ("모델을", "LLM의"), so each distinct chunk
# goes through the full Unicode tokeniser once per batch.


class _ChunkWords(dict[str, tuple[str, ...]]):
    """Chunk of non-ASCII text -> the words (and Hangul prefixes) in it that some topic uses.

    Each distinct chunk goes through the Unicode tokeniser once per batch, not once per use;
    :attr:`seen` holds every chunk looked at, as a plain set (``set.difference`` iterates a dict
    subclass such as this one whole, for every paper).
    """

    def __init__(self, vocabulary: AbstractSet[str]) -> None:
        super().__init__()
        self._vocabulary = vocabulary
        self.useful: set[str] = set()  # the chunks with a word some topic uses: most have none
        self.seen: set[str] = set()

    def __missing__(self, chunk: str) -> tuple[str, ...]:
        vocabulary, found = self._vocabulary, []
        words = _tokenize_chunk(chunk)
        for word in words:
            if word in vocabulary:
                found.append(word)
            if word[0] >= "\u1100":
                found.extend(_vocabulary_prefixes(word, vocabulary))
        self[chunk] = result = tuple(found)
        self.seen.add(chunk)
        if result:
            self.useful.add(chunk)
        return result


# A chunk of ASCII and precomposed Hangul syllables only ("LLM의", "모델을", "(대형") is most of
# a Korean summary. NFKC and casefold leave such syllables as they are and lower() is casefold
# for ASCII, so its words are its runs of [a-z0-9] and of syllables: a small regex instead of
# the Unicode tokeniser.
_SIMPLE_CHUNK = re.compile("[\x00-\x7f\uac00-\ud7a3]*")
_SIMPLE_WORDS = re.compile("[a-z0-9]+|[\uac00-\ud7a3]+")


def _tokenize_chunk(chunk: str) -> list[str]:
    """Split a chunk of text without whitespace into words exactly like :func:`~digestbot.topics.tokenize`."""
    if _SIMPLE_CHUNK.fullmatch(chunk):
        return _SIMPLE_WORDS.findall(chunk.lower())
    return tokenize(chunk)


# Phrases are sought in a paper's *text*, not in its words joined again (joining 300,000 words
# of a batch cost as much as splitting them). Fields written in ASCII and precomposed Hangul only
# (nearly all) are kept as the batch already lowered them (ASCII fields translated, see
# _ASCII_TABLE), joined by _FIELD_END; there a word is a run of [a-z0-9] or of syllables, and
# _simple_phrase_finder's pattern knows it. Other fields (rare: "café", "𝒗", CJK) are tokenised
# and their words joined by single spaces, for _phrase_finder.
_FIELD_END = "￿"  # a noncharacter: no simple field holds it, and no pattern steps over it
_LATIN_WORD = re.compile("[a-z0-9]+")
_SYLLABLE_WORD = re.compile("[\uac00-\ud7a3]+")


def _simple_phrase_finder(phrase: Term) -> Callable[[str], object] | None:
    """Return a search for ``phrase`` in lowered simple text, or None if it cannot occur in such text.

    The pattern is fixed-shape and made of escaped topic words (no user-supplied regex): each
    word whole, a Hangul one as a prefix of its syllable run (the run is taken whole: the
    look-ahead keeps the engine from cutting it to start the next word inside it), words
    separated by anything but word characters and _FIELD_END. It starts with the first word's
    letters, so ``re`` scans for them in C; a look-behind then checks the word starts there.
    Linear: the separator class and the word classes are disjoint.
    """
    parts = []
    for i, word in enumerate(phrase):
        if _LATIN_WORD.fullmatch(word):
            chars, end = "a-z0-9", "(?![a-z0-9])"
        elif _SYLLABLE_WORD.fullmatch(word):
            chars, end = "\uac00-\ud7a3", "[\uac00-\ud7a3]*(?![\uac00-\ud7a3])"
        else:
            return None  # a word with other letters is never in a simple field
        escaped = re.escape(word)
        parts.append(escaped + (f"(?<![{chars}]{escaped})" if i == 0 else "") + end)
    return re.compile(f"[^a-z0-9\uac00-\ud7a3{_FIELD_END}]*".join(parts)).search


def _token_text(fields: list[str]) -> str:
    """Return the words of ``fields`` joined by single spaces, a newline between fields, framed by spaces.

    " a b " occurs in it exactly where the words a, b are adjacent in one field
    (:func:`_phrase_finder`).
    """
    return f" {f' {_BOUNDARY} '.join(' '.join(tokenize(text)) for text in fields)} "


_NOT = "-"
"""Marks an excluded term's key in :class:`_Bits` ("-survey"): never part of a word or phrase."""


class _Bits(dict[str, int]):
    """Term -> the bitset of the batch's papers it occurs in; what a topic is evaluated against.

    Keys are what :func:`_needs` lists: every word some topic uses (0 when no paper has it), a
    phrase as its words joined by spaces (never a word: words hold no spaces), and an excluded
    term prefixed by ``_NOT``, whose bitset is the papers *without* it (the complement within
    the batch, a non-negative int, so excluding is one more AND). Phrases and exclusions are
    computed on first lookup and kept for the rest of the batch: they are shared by many topics.
    A phrase's candidates are the papers with all its words; in each, the phrase is sought in
    the paper's simple fields' text (:func:`_simple_phrase_finder`) and, if it has other fields,
    in their words joined by spaces (:func:`_token_text`, :func:`_phrase_finder`).
    """

    def __init__(self, vocabulary: AbstractSet[str], n_papers: int) -> None:
        super().__init__(dict.fromkeys(vocabulary, 0))
        self.present: dict[str, int] = {}  # the words some paper has, as filled in by _batch_bits
        self.texts: list[str] = []  # each paper's simple fields, lowered, made by _batch_bits
        self.token_texts: dict[int, str] = {}  # paper -> its other fields' _token_text, if any
        self.chunks = _ChunkWords(vocabulary)
        self._all = (1 << n_papers) - 1

    def __missing__(self, key: str) -> int:
        if key.startswith(_NOT):
            found = self._all ^ self[key[len(_NOT) :]]
        elif " " not in key:
            return 0  # a word no topic uses (not in the vocabulary): no paper is asked about it
        else:
            found = self._phrase(tuple(key.split(" ")))
        self[key] = found
        return found

    def _phrase(self, phrase: Term) -> int:
        candidates = reduce(and_, map(self.__getitem__, phrase))
        found = 0
        find = _simple_phrase_finder(phrase)
        find_words = _phrase_finder(phrase, tuple(map(is_hangul, phrase)))
        texts, token_texts = self.texts, self.token_texts
        for j in _bit_indexes(candidates):
            if (find is not None and find(texts[j])) or (j in token_texts and find_words(token_texts[j])):
                found |= 1 << j
        return found


def _batch_bits(papers: list[Paper], vocabulary: set[str]) -> _Bits:
    """Tokenise ``papers`` and return the bitset of every word of ``vocabulary`` they contain.

    ASCII fields (most of a paper) are split in C, and only their words that some topic uses
    are kept (``set.intersection`` iterates the paper's words, not the vocabulary); other fields
    are cut at whitespace, each distinct chunk goes through :class:`_ChunkWords` once, and only
    the chunks known to hold a topic word are looked at again (set operations in C).

    Each paper's words are let go before the next paper: no word is kept for phrases, which
    are sought in the text (:class:`_Bits`). Keeping a batch's 300,000 words alive to join them
    later cost more than splitting them (in a process holding 1,000,000 subscriptions, fresh
    objects land in cold, scattered memory; reused ones stay in the cache).
    """
    bits = _Bits(vocabulary, len(papers))
    present, texts, token_texts, chunk_words = bits.present, bits.texts, bits.token_texts, bits.chunks
    useful, seen = chunk_words.useful, chunk_words.seen
    get = present.get
    keep = vocabulary.intersection
    table = _ASCII_TABLE
    simple = _SIMPLE_CHUNK.fullmatch
    for j, paper in enumerate(papers):
        fields = [text for text in paper_fields(paper) if text]
        lowered = [text.translate(table) for text in fields if text.isascii()]
        found = keep(chain.from_iterable(map(str.split, lowered)))
        others = [text for text in fields if not text.isascii()]
        if others:
            distinct = set(chain.from_iterable(map(str.split, others)))
            for chunk in distinct.difference(seen):  # new to this batch: tokenised once
                chunk_words[chunk]
            found.update(chain.from_iterable(map(chunk_words.__getitem__, distinct.intersection(useful))))
            lowered += [text.lower() for text in others if simple(text)]
            if len(lowered) < len(fields):
                token_texts[j] = _token_text([text for text in others if not simple(text)])
        texts.append(_FIELD_END.join(lowered))
        bit = 1 << j
        for word in found:
            present[word] = get(word, 0) | bit
    bits.update(present)
    return bits


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


Shape = tuple[bool, int]
"""How a topic filed under an anchor is evaluated: does the anchor's bitset start the AND, how many terms follow."""

_Group = tuple[bool, list[int], list[list[str]]]
"""Topics of one anchor and shape, as columns: whether the anchor starts, topic ids, and term i of each."""


def _needs(topic: Topic, anchor: str) -> tuple[Shape, tuple[str, ...]]:
    """Return what ``topic`` needs besides its anchor: its shape and those terms as _Bits keys, in that order.

    The words come first, then the included phrases ("large language model"), then the
    excluded words and phrases (``_NOT`` keys). A word of one of the topic's included phrases is
    implied by the phrase (a phrase's papers are among its words' papers, see
    :meth:`_Bits._phrase`), so it is not ANDed again; when the anchor itself is such a word,
    the phrase's bitset starts the AND instead of the anchor's.
    """
    in_phrases = {w for t in topic.include if len(t) > 1 for w in t}
    words = sorted(_words_of(topic) - in_phrases - {anchor})
    phrases = sorted({" ".join(t) for t in topic.include if len(t) > 1})
    excluded = sorted({_NOT + " ".join(t) for t in topic.exclude})
    # Interned: every topic's "llm" is then one object, the very key of the batch's _Bits, so the
    # 100,000s of look-ups per batch hit one hot object each (found by identity) instead of
    # reading a cold copy per topic (measured: 10x less time in look-ups at 1M subscriptions).
    needs = tuple(map(sys.intern, (*words, *phrases, *excluded)))
    return (anchor not in in_phrases, len(needs)), needs


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
        # topic id -> (anchor, shape) while it has subscribers: where it is filed
        self._anchor: list[tuple[str, Shape] | None] = []
        # anchor word -> shape -> topic id -> what else it needs (see _needs and match_all)
        self._filed: dict[str, dict[Shape, dict[int, tuple[str, ...]]]] = {}
        # anchor word -> its topics as columns (_Group), made from _filed when first needed after a change
        self._columns: dict[str, list[_Group]] = {}
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
        self.prepare()
        log.debug("indexed %d topics (%d subscribers)", len(self._topics), len(self._keys))

    def prepare(self) -> None:
        """Lay out every anchor's topics as columns now, so that no match pays for it after a (re)build."""
        for anchor in self._filed:
            self._group_columns(anchor)

    def _group_columns(self, anchor: str) -> list[_Group]:
        """Return ``anchor``'s topics grouped by shape, each group as columns (see match_all)."""
        groups = self._columns.get(anchor)
        if groups is None:
            groups = self._columns[anchor] = [
                (starts, list(group), [list(map(itemgetter(i), group.values())) for i in range(n)])
                for (starts, n), group in self._filed[anchor].items()
            ]
        return groups

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
            self._unfile(tid)
        return True

    def _file(self, tid: int, topic: Topic) -> None:
        """File topic ``tid`` under its anchor (its included word used by the fewest topics) and its shape."""
        used_by = self._frequency.get
        anchor = min(_words_of(topic), key=lambda w: (used_by(w, 0), -len(w), w))
        for word in map(sys.intern, _all_words(topic)):
            self._vocabulary[word] += 1
            self._vocabulary_set.add(word)
        shape, needs = _needs(topic, anchor)
        self._anchor[tid] = (anchor, shape)
        self._filed.setdefault(anchor, {}).setdefault(shape, {})[tid] = needs
        self._columns.pop(anchor, None)

    def _unfile(self, tid: int) -> None:
        """Take topic ``tid`` out of the structures :meth:`_file` put it in."""
        filed = self._anchor[tid]
        if filed is None:
            return
        self._anchor[tid] = None
        for word in _all_words(self._topics[tid]):
            self._vocabulary[word] -= 1
            if self._vocabulary[word] <= 0:
                del self._vocabulary[word]
                self._vocabulary_set.discard(word)
        anchor, shape = filed
        self._columns.pop(anchor, None)
        shapes = self._filed[anchor]
        del shapes[shape][tid]
        if not shapes[shape]:
            del shapes[shape]
            if not shapes:
                del self._filed[anchor]

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
        bits = _batch_bits(papers, self._vocabulary_set)
        term = bits.__getitem__
        hits: dict[int, int] = {}  # topic id -> bitset of the papers it matches
        for anchor in self._filed.keys() & bits.present.keys():
            have = bits.present[anchor]
            for starts, tids, columns in self._group_columns(anchor):
                if not columns:
                    hits.update(dict.fromkeys(tids, have))  # topics that are just the anchor
                    continue
                # Every topic of this group at once, in C: a chain of lazy maps ANDs, topic
                # after topic, the anchor's bitset (or the first term's, see _needs) with each
                # term's: a word's, a phrase's or an exclusion's (computed once per batch, _Bits).
                found: Iterator[int] = repeat(have) if starts else map(term, columns[0])
                for column in columns if starts else columns[1:]:
                    found = map(and_, found, map(term, column))
                # The topics that matched any paper, and their bitsets: compress and filter pick
                # them out in C (a filter on each (topic, bits) pair cost 300 ns a topic).
                results = list(found)
                hits.update(zip(compress(tids, results), filter(None, results), strict=True))
        return TopicMatches(index=self, papers=papers, hits=hits)


def _words_of(topic: Topic) -> set[str]:
    return {w for term in topic.include for w in term}


def _all_words(topic: Topic) -> set[str]:
    return {w for term in (*topic.include, *topic.exclude) for w in term}


class TopicMatches(Mapping[K, list[tuple[Paper, Topic]]], Generic[K]):
    """Which subscribers matched, each mapped to its ``(paper, topic)`` pairs in paper order.

    Pairs of one paper are ordered by the topics' canonical text; subscribers without a match
    are absent. What is known at once is which topics matched which papers; subscribers are
    found as they are iterated (``in`` is cheap; ``len`` walks them all once), and each
    subscriber's list is built when it is looked up, as a fresh list the caller may change:
    1,000 papers x 1,000,000 subscriptions can come to ~10^8 pairs, which take far longer to
    build than the matching itself, and a notifier needs one subscriber's list at a time.
    A subscriber's topics are read from the index when iterated and looked up, so an
    unsubscribe that lands meanwhile is honoured.
    """

    def __init__(self, *, index: TopicIndex[K], papers: list[Paper], hits: dict[int, int]) -> None:
        self._index = index
        self._papers = papers
        self._hits = hits  # topic id -> bitset of the papers it matched
        self._indexes_of: dict[int, list[int]] = {}
        self._count: int | None = None

    def __len__(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in self._sids())
        return self._count

    def __iter__(self) -> Iterator[K]:
        keys = self._index._keys
        return (keys[sid] for sid in self._sids())

    def _sids(self) -> Iterator[int]:
        """Yield each matched subscriber's number once, topic by topic, as the caller asks for them.

        Collecting them all up front (~400,000 at 1,000,000 subscriptions) took longer than the
        matching itself; a notifier takes them one DM at a time. Each topic's subscribers are
        copied when reached, so a subscribe landing meanwhile cannot break the iteration, and one
        who unsubscribed meanwhile is skipped here (they may still come through another topic).
        """
        seen: set[int] = set()
        subscribers = self._index._subscribers
        for tid in self._hits:
            members = subscribers[tid]
            fresh = members.keys() - seen  # C: most subscribers follow one matching topic
            seen |= fresh
            for sid in fresh:
                if sid in members:
                    yield sid
                else:
                    seen.discard(sid)

    def __contains__(self, key: object) -> bool:
        return bool(self._matched_topics(key))  # type: ignore[arg-type]  # any object may be asked

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
        if sid is None:
            return []
        return [tid for tid in self._index._topics_of[sid] if tid in self._hits]

    def _indexes(self, tid: int) -> list[int]:
        """Return the indexes of the papers topic ``tid`` matched (decoded once per topic)."""
        if (found := self._indexes_of.get(tid)) is None:
            found = self._indexes_of[tid] = list(_bit_indexes(self._hits[tid]))
        return found
