"""Match the day's papers against every subscribed topic without testing every pair.

What a topic means is defined in :mod:`digestbot.topics`; :func:`reference_match` restates it in
the plainest possible code and the tests hold :class:`TopicIndex` to it.

How the index works
-------------------
A topic can only match a paper that contains *every* word of its included terms, so one of those
words, the topic's **anchor**, is enough to find the candidates:

1. *Build* (once per run, :class:`TopicIndex`): identical topics are merged (1,000,000
   subscriptions are mostly a few popular topics), and each distinct topic is filed under its
   anchor, the included word that is expected to be rarest. Topics made of one plain word with
   no exclusions need no check at all and go in a separate bucket.
2. *Per paper*: the paper is tokenised once into a word → positions map (a Hangul word is also
   filed under each of its prefixes, which turns Korean prefix matching into exact look-ups). The
   paper's words are intersected with the anchors (a C-level set operation), and only the topics
   filed under those anchors are verified: plain words by dictionary look-up, phrases by walking
   the positions of their first word, exclusions likewise.
3. *Fan-out*: each matched distinct topic's papers are handed to all its subscribers at once.

Work per paper is therefore proportional to the candidates sharing a rare word with it, not to
the number of subscriptions. Which word is rarest is estimated without seeing papers: by
default, the word used by the fewest distinct topics (a word in many topics, like "llm" or
"model", is a common word in papers too), with ties going to the longer word. A caller that
knows real document frequencies (e.g. from recent digests) can pass them as
``word_frequency``. An Aho-Corasick automaton over the topic words was the alternative; in pure
Python it walks every character of every paper (~5 M characters for 1,000 papers) in
interpreted code, while the tokenising regex and the set intersection run in C, and positions
are needed for phrases anyway. ``python -m bench.match --million`` measures the result against
the naive loop: see ``bench/match.py``.

Results list ``(paper, topic)`` pairs in the order the papers were given, and for one paper in
order of the topics' canonical text. A subscriber's duplicate subscriptions count once;
subscribers with no match are absent from the result.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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
    fields = [tokenize(text) for text in paper_fields(paper)]

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


@dataclass(frozen=True, kw_only=True, slots=True)
class _Check:
    """What remains to verify about a candidate topic once its anchor word is known to occur."""

    words: tuple[str, ...]
    phrases: tuple[tuple[Term, tuple[bool, ...]], ...]
    excluded_words: tuple[str, ...]
    excluded_phrases: tuple[tuple[Term, tuple[bool, ...]], ...]

    def passes(self, seq: _Sequence, positions: _Positions) -> bool:
        """Tell whether the rest of the topic holds for the prepared paper."""
        for word in self.words:
            if word not in positions:
                return False
        for word in self.excluded_words:
            if word in positions:
                return False
        for phrase, prefix in self.phrases:
            if not _phrase_occurs(phrase, prefix, seq, positions):
                return False
        return not any(_phrase_occurs(p, f, seq, positions) for p, f in self.excluded_phrases)


def _with_prefix_flags(term: Term) -> tuple[Term, tuple[bool, ...]]:
    return term, tuple(is_hangul(w) for w in term)


def _check_for(topic: Topic, anchor: str) -> _Check:
    words = [t[0] for t in topic.include if len(t) == 1 and t[0] != anchor]
    return _Check(
        words=tuple(words),
        phrases=tuple(_with_prefix_flags(t) for t in topic.include if len(t) > 1),
        excluded_words=tuple(t[0] for t in topic.exclude if len(t) == 1),
        excluded_phrases=tuple(_with_prefix_flags(t) for t in topic.exclude if len(t) > 1),
    )


class TopicIndex(Generic[K]):
    """Every subscription of a run, indexed so that each paper is checked only against likely topics."""

    def __init__(
        self,
        subscriptions: Iterable[tuple[K, Topic]],
        *,
        word_frequency: Mapping[str, int] | None = None,
    ) -> None:
        """Index ``(subscriber, topic)`` pairs; ``word_frequency`` (lower = rarer) picks anchors if given."""
        ids: dict[Topic, int] = {}
        self._topics: list[Topic] = []
        self._subscribers: list[list[K]] = []
        for key, topic in subscriptions:
            tid = ids.get(topic)
            if tid is None:
                tid = ids[topic] = len(self._topics)
                self._topics.append(topic)
                self._subscribers.append([key])
            else:
                self._subscribers[tid].append(key)
        self._subscribers = [list(dict.fromkeys(k)) if len(k) > 1 else k for k in self._subscribers]

        if word_frequency is None:
            used_by = Counter(w for topic in self._topics for w in {w for t in topic.include for w in t})
        else:
            used_by = Counter(word_frequency)

        # anchor word -> ids of topics that match whenever the anchor occurs
        self._plain: dict[str, list[int]] = defaultdict(list)
        # anchor word -> (topic id, what else to verify)
        self._checked: dict[str, list[tuple[int, _Check]]] = defaultdict(list)
        for tid, topic in enumerate(self._topics):
            words = {w for term in topic.include for w in term}
            anchor = min(words, key=lambda w: (used_by[w], -len(w), w))
            if not topic.exclude and topic.include == ((anchor,),):
                self._plain[anchor].append(tid)
            else:
                self._checked[anchor].append((tid, _check_for(topic, anchor)))
        self._plain = dict(self._plain)
        self._checked = dict(self._checked)
        self._anchors = frozenset(self._plain) | frozenset(self._checked)
        log.debug(
            "indexed %d topics (%d subscribers) under %d anchor words",
            len(self._topics),
            sum(map(len, self._subscribers)),
            len(self._anchors),
        )

    @property
    def topic_count(self) -> int:
        """Number of distinct topics indexed (identical subscriptions are stored once)."""
        return len(self._topics)

    def _matching_topics(self, paper: Paper) -> list[int]:
        """Return the ids of the distinct topics that match ``paper``."""
        seq, positions = _prepare(paper)
        matched: list[int] = []
        for word in self._anchors.intersection(positions):
            if (plain := self._plain.get(word)) is not None:
                matched.extend(plain)
            for tid, check in self._checked.get(word, ()):
                if check.passes(seq, positions):
                    matched.append(tid)
        return matched

    def match(self, paper: Paper) -> dict[K, list[Topic]]:
        """Return, for each subscriber with a topic matching ``paper``, those topics."""
        return {key: [topic for _, topic in pairs] for key, pairs in self.match_all([paper]).items()}

    def match_all(self, papers: Sequence[Paper] | Iterable[Paper]) -> dict[K, list[tuple[Paper, Topic]]]:
        """Return, for each subscriber with any match, its ``(paper, topic)`` pairs in paper order."""
        papers = list(papers)
        hits: dict[int, list[int]] = defaultdict(list)  # topic id -> paper indexes, ascending
        for index, paper in enumerate(papers):
            for tid in self._matching_topics(paper):
                hits[tid].append(index)

        result: dict[K, list[tuple[Paper, Topic]]] = {}
        merged: set[K] = set()  # subscribers whose pairs came from more than one topic
        topics, subscribers = self._topics, self._subscribers
        for tid, indexes in hits.items():
            topic = topics[tid]
            pairs = [(papers[i], topic) for i in indexes]
            for key in subscribers[tid]:
                if (have := result.get(key)) is None:
                    result[key] = pairs.copy()
                else:
                    have.extend(pairs)
                    merged.add(key)
        if merged:
            order = {id(p): i for i, p in reversed(list(enumerate(papers)))}
            for key in merged:
                result[key].sort(key=lambda pair: (order[id(pair[0])], pair[1].canonical))
        return result
