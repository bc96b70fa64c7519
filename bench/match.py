"""Benchmark topic matching: TopicIndex against the best simple structures, on the same data in the same run.

Run ``python -m bench.match [--papers 1000] [--subs 100000] [--million] [--runs 5] [--sample 1000]``.

Papers are synthetic but shaped like the real thing: titles and ~150-word abstracts drawn from a
Zipf-ish vocabulary of real ML words (with hyphenated compounds), summary sections in Korean with
particles attached and English terms mixed in (as in the seed digest). Subscriptions come from
``bench.synthetic.synthetic_subscriptions``: users following 1-20 topics of 1-3 terms, popular
subject words and phrases with a Zipf skew plus a long tail of rare words, ~15% with an exclusion.

Every matcher answers the same thing: each matching topic with the set of papers it matched
(who matched follows from the topics' subscribers). Baselines: ``token_dict`` (word -> topics,
per paper verify the topics of its words) and, when pyahocorasick is installed, ``aho_corasick``
(the automaton finds the topic words in each paper's text, then the same verification). All
report the median of ``--runs`` runs. ``match_all`` answers per topic; who matched (the topics'
subscribers) is walked lazily as the fan-out sends DMs, and each subscriber's ``(paper, topic)``
list is built as their DM is sent: what walking everyone once takes, the list cost per DM, and what
building all lists at once would take are on the headline line. The index's answer must equal every baseline's, and the reference matcher's
on a uniform sample of ``--sample`` subscriptions. The last line is
``bench.match NAME: median_s=... baseline=... baseline_median_s=... ...``; the exit status is 1
when a goal is missed (at 1k x 1M: median < 0.36 s; always: at or below the best baseline, same
answers).
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from bench.machine import describe_machine
from bench.synthetic import synthetic_subscriptions
from bench.vocabulary import (
    EN_FILLER,
    GENERIC,
    KO_FILLER,
    KO_GENERIC,
    KO_PARTICLES,
    KO_SPECIFIC,
    PHRASES,
    SPECIFIC,
    zipf_weights,
)
from digestbot.matching import (
    TopicIndex,
    TopicMatches,
    _batch_bits,
    _bit_indexes,
    _phrase_finder,
    _reference_match_fields,
    _sequence,
    _word_set,
)
from digestbot.records import Paper
from digestbot.topics import Topic, is_hangul, paper_fields, parse_topic, tokenize

GOAL_S = 0.36
"""Median match time goal for 1,000 papers x 1,000,000 subscriptions (issue #16)."""

T = TypeVar("T")


class Generator:
    """Draw paper-like texts and subscription topics reproducibly from one seed.

    Each paper has a subject (a few subject words, maybe a phrase, a few Korean nouns) that its
    title, abstract, summary sections and keywords keep coming back to, mixed with generic words
    and filler; other subject words appear only now and then. So "diffusion" is in some papers,
    not in all, like in a real digest.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._specific = zipf_weights(len(SPECIFIC), 0.9)
        self._topic_words = zipf_weights(len(SPECIFIC), 1.1)  # topic popularity: a bit steeper
        self._ko = zipf_weights(len(KO_SPECIFIC), 0.9)
        self._phrases = zipf_weights(len(PHRASES), 1.0)

    def _pick(self, words: list[str], cum: list[float], k: int) -> list[str]:
        return self.rng.choices(words, cum_weights=cum, k=k)

    def _english(self, n: int, subject: list[str]) -> str:
        r = self.rng
        out = []
        for _ in range(n):
            x = r.random()
            if x < 0.15:
                out.append(r.choice(subject))
            elif x < 0.16:
                out.append(self._pick(SPECIFIC, self._specific, 1)[0])
            elif x < 0.45:
                out.append(r.choice(GENERIC))
            else:
                out.append(r.choice(EN_FILLER))
        return " ".join(out) + "."

    def _korean(self, n: int, subject: list[str], ko_subject: list[str]) -> str:
        r = self.rng
        out = []
        for _ in range(n):
            x = r.random()
            if x < 0.2:
                word = r.choice(ko_subject)
            elif x < 0.35:
                word = r.choice(KO_GENERIC)
            elif x < 0.5:  # English terms inside Korean text, often with a particle: "LLM의"
                word = r.choice(subject)
            elif x < 0.51:
                word = self._pick(SPECIFIC, self._specific, 1)[0]
            else:
                out.append(r.choice(KO_FILLER))
                continue
            out.append(word + r.choice(KO_PARTICLES))
        return " ".join(out) + "."

    def paper(self, i: int) -> Paper:
        r = self.rng
        subject = list(dict.fromkeys(self._pick(SPECIFIC, self._specific, r.randint(3, 6))))
        if r.random() < 0.4:
            subject.append(self._pick(PHRASES[:-2], self._phrases[:-2], 1)[0])
        ko_subject = self._pick(KO_SPECIFIC, self._ko, r.randint(2, 4))
        title_words = [r.choice(subject) if r.random() < 0.5 else r.choice(GENERIC) for _ in range(r.randint(5, 10))]
        return Paper(
            arxiv_id=f"2410.{i:05d}",
            title=" ".join(title_words).title(),
            abstract=" ".join(self._english(r.randint(15, 30), subject) for _ in range(r.randint(5, 8))),
            sections=tuple(
                (name, self._korean(r.randint(40, 70), subject, ko_subject))
                for name in ("What's New", "Technical Details", "Performance Highlights")
                if r.random() < 0.85
            ),
            ai_summary=self._english(r.randint(25, 45), subject),
            keywords=tuple(subject[:4]),
        )

    def _term(self) -> str:
        x = self.rng.random()
        if x < 0.2:
            return '"' + self._pick(PHRASES, self._phrases, 1)[0] + '"'
        if x < 0.28:
            return self._pick(KO_SPECIFIC, self._ko, 1)[0]
        if x < 0.32:
            return self.rng.choice(GENERIC)
        return self._pick(SPECIFIC, self._topic_words, 1)[0]

    def topic_text(self) -> str:
        terms = [self._term() for _ in range(self.rng.choices((1, 2, 3), weights=(60, 30, 10))[0])]
        if self.rng.random() < 0.15:
            terms.append("-" + self.rng.choice(["survey", "benchmark", '"position paper"', "medical", "robot"]))
        return " ".join(terms)


def make_subscriptions(count: int, seed: int) -> list[tuple[tuple[str, str, str], Topic]]:
    """Return ``count`` realistic subscriptions (``bench.synthetic.synthetic_subscriptions``), parsed."""
    parsed: dict[str, Topic] = {}
    out = []
    for platform, workspace, user, text in synthetic_subscriptions(count, seed=seed):
        topic = parsed.get(text)
        if topic is None:
            topic = parsed[text] = parse_topic(text)
        out.append(((platform, workspace, user), topic))
    return out


CPU_SECONDS: list[float] = []
"""CPU seconds of every ``timed`` call, in order (on a shared machine, wall time also counts waiting)."""


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Run ``fn`` once with the garbage collector paused; return its result and wall seconds."""
    gc.collect()
    gc.disable()
    try:
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall = time.perf_counter() - start
        CPU_SECONDS.append(time.process_time() - cpu)
        return result, wall
    finally:
        gc.enable()


def median_of(runs: int, fn: Callable[[], T]) -> tuple[T, float, list[float]]:
    """Run ``fn`` ``runs`` times; return the last result, the median seconds and every run's seconds."""
    times: list[float] = []
    result: T
    for _ in range(max(1, runs)):
        result, seconds = timed(fn)
        times.append(seconds)
    return result, statistics.median(times), times


# -- baselines: simple structures, same answers -----------------------------------------------------

Answer = dict[Topic, int]
"""What every matcher here answers: each matching topic with the bitset of the papers it matched.

Who matched follows from it (each topic's subscribers), and each subscriber's (paper, topic)
list is decoded from it when their DM is sent: that is what ``TopicMatches`` does too."""


class _Compiled:
    """A topic prepared once for per-paper checks: its words, and finders for phrases and exclusions."""

    def __init__(self, topic: Topic) -> None:
        self.topic = topic
        self.words = frozenset(w for term in topic.include for w in term)
        self.simple = not topic.exclude and all(len(t) == 1 for t in topic.include)
        finder = lambda term: _phrase_finder(term, tuple(is_hangul(w) for w in term))  # noqa: E731
        self.phrases = [finder(t) for t in topic.include if len(t) > 1]
        self.excluded_words = [t[0] for t in topic.exclude if len(t) == 1]
        self.excluded_phrases = [finder(t) for t in topic.exclude if len(t) > 1]

    def matches(self, present: set[str], text: str) -> bool:
        """Check the topic against one paper's word set (with Hangul prefixes) and space-joined words."""
        if not self.words.issubset(present):
            return False
        if self.simple:
            return True
        return (
            all(find(text) for find in self.phrases)
            and not any(w in present for w in self.excluded_words)
            and not any(find(text) for find in self.excluded_phrases)
        )


def _anchored(subscriptions: list[tuple[Any, Topic]]) -> dict[str, list[_Compiled]]:
    """File each distinct topic under its word used by the fewest topics (as TopicIndex does)."""
    topics = [_Compiled(t) for t in {t for _, t in subscriptions}]
    used_by = Counter(w for c in topics for w in c.words)
    by_word: dict[str, list[_Compiled]] = {}
    for c in topics:
        by_word.setdefault(min(c.words, key=lambda w: (used_by[w], -len(w), w)), []).append(c)
    return by_word


class TokenDict:
    """The plain inverted index: rarest word -> topics; per paper, check the topics of the words it has."""

    def __init__(self, subscriptions: list[tuple[Any, Topic]]) -> None:
        self.by_word = _anchored(subscriptions)

    def match(self, papers: list[Paper]) -> Answer:
        found: Answer = {}
        by_word = self.by_word
        for j, paper in enumerate(papers):
            seq = _sequence(paper)
            present = _word_set(seq)
            text = f" {' '.join(seq)} "
            bit = 1 << j
            for word in present.intersection(by_word):
                for c in by_word[word]:
                    if c.matches(present, text):
                        found[c.topic] = found.get(c.topic, 0) | bit
        return found


class AhoCorasick:
    """pyahocorasick finds the anchor words in each paper's text (one C pass); then check like TokenDict."""

    def __init__(self, subscriptions: list[tuple[Any, Topic]]) -> None:
        import ahocorasick  # a benchmark baseline only, not a dependency of digestbot

        self.automaton = ahocorasick.Automaton()
        for word, topics in _anchored(subscriptions).items():
            # " word " finds a whole word in the space-joined words; a Hangul word matches as a prefix.
            self.automaton.add_word(f" {word}" if is_hangul(word) else f" {word} ", (word, topics))
        self.automaton.make_automaton()

    def match(self, papers: list[Paper]) -> Answer:
        found: Answer = {}
        for j, paper in enumerate(papers):
            seq = _sequence(paper)
            text = f" {' '.join(seq)} "
            present = _word_set(seq)
            bit = 1 << j
            seen: set[str] = set()
            for _, (word, topics) in self.automaton.iter(text):
                if word in seen:
                    continue
                seen.add(word)
                for c in topics:
                    if c.matches(present, text):
                        found[c.topic] = found.get(c.topic, 0) | bit
        return found


def index_answer(result: TopicMatches[Any]) -> Answer:
    """The index's result in the baselines' form."""
    topics = result._index._topics
    return {topics[tid]: bits for tid, bits in result._hits.items()}


def reference_pairs(
    sample: list[tuple[Any, Topic]], papers: list[Paper], fields: list[list[list[str]]], present: list[set[str]]
) -> set[tuple[str, int]]:
    """Match every sampled topic against every paper with the reference matcher.

    Papers lacking one of the topic's included words cannot match (a necessary condition of the
    rules), so only the rest go through the slow, obviously correct ``_reference_match_fields``.
    """
    out: set[tuple[str, int]] = set()
    for topic in {t for _, t in sample}:
        words = [w for term in topic.include for w in term]
        for j in range(len(papers)):
            if all(w in present[j] for w in words) and _reference_match_fields(topic, fields[j]):
                out.add((topic.canonical, j))
    return out


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.match", description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=1000, help="papers in the digest (default 1000)")
    parser.add_argument("--subs", type=int, default=100_000, help="subscriptions (default 100000)")
    parser.add_argument("--million", action="store_true", help="use 1,000,000 subscriptions")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per matcher; medians are reported")
    parser.add_argument("--baseline-runs", type=int, default=None, help="timed runs per baseline (default: --runs)")
    parser.add_argument("--sample", type=int, default=1000, help="subscriptions checked against the reference")
    args = parser.parse_args(argv)
    n_subs = 1_000_000 if args.million else args.subs
    out = sys.stdout.write
    name = f"{args.papers // 1000}k_x_" + (
        f"{n_subs // 1_000_000}M" if n_subs % 1_000_000 == 0 else f"{n_subs // 1000}k"
    )
    if args.papers % 1000:
        name = f"{args.papers}_x_{n_subs}"

    out(f"machine: {describe_machine()}\n")
    gen = Generator(args.seed)
    (papers, subs), t_data = timed(
        lambda: ([gen.paper(i) for i in range(args.papers)], make_subscriptions(n_subs, args.seed))
    )
    n_words = sum(len(tokenize(text)) for p in papers for text in paper_fields(p))
    out(
        f"data: {len(papers):,} papers ({n_words:,} words), {len(subs):,} subscriptions, "
        f"{len({t for _, t in subs}):,} distinct topics, {len({k for k, _ in subs}):,} subscribers "
        f"(generated in {t_data:.1f} s, seed {args.seed})\n"
    )

    index, t_build = timed(lambda: TopicIndex(subs))
    result, t_match, runs = median_of(args.runs, lambda: index.match_all(papers))
    cpu_match = statistics.median(CPU_SECONDS[-len(runs) :])
    _, t_prepare, _ = median_of(args.runs, lambda: _batch_bits(papers, index._vocabulary_set))
    # Who matched is expanded from the matching topics as the fan-out takes subscribers one by one;
    # walking all of them once, as a post does over its whole fan-out:
    n_matched, t_who = timed(lambda: sum(1 for _ in result))
    out(
        f"TopicIndex: built in {t_build:.2f} s (once per process); match_all median {t_match:.3f} s over "
        f"{len(runs)} runs ({', '.join(f'{x:.3f}' for x in runs)}), of which tokenising and word bitsets "
        f"{t_prepare:.3f} s; {len(result._hits):,} topics matched; their {n_matched:,} subscribers, "
        f"expanded lazily as DMs are sent, take {t_who:.3f} s to walk all at once\n"
    )
    # Each subscriber's (paper, topic) list is built when their DM is sent; building all at once:
    keys = list(result)
    n_pairs, t_lists = timed(lambda: sum(len(result[k]) for k in keys))
    per_dm_us = t_lists / max(1, len(keys)) * 1e6
    out(
        f"  lists: every matched subscriber's (paper, topic) list, built one by one as DMs are sent: "
        f"{per_dm_us:.0f} us per DM; all {len(keys):,} at once would take {t_lists:.2f} s ({n_pairs:,} pairs)\n"
    )

    baselines: dict[str, Any] = {"token_dict": TokenDict}
    try:
        import ahocorasick  # noqa: F401  # only to see whether the baseline can run
    except ImportError:
        out("aho_corasick: pyahocorasick is not installed (pip install pyahocorasick), skipped\n")
    else:
        baselines["aho_corasick"] = AhoCorasick
    want = index_answer(result)
    agree = True
    timings: dict[str, float] = {}
    for label, cls in baselines.items():
        structure, t_base_build = timed(lambda cls=cls: cls(subs))
        base_n = args.runs if args.baseline_runs is None else args.baseline_runs
        answer, t_base, base_runs = median_of(base_n, lambda s=structure: s.match(papers))
        timings[label] = t_base
        same = answer == want
        agree &= same
        out(
            f"{label}: built in {t_base_build:.2f} s; match median {t_base:.3f} s over {len(base_runs)} runs "
            f"({', '.join(f'{x:.3f}' for x in base_runs)}); same answer as TopicIndex: {'yes' if same else 'NO'}\n"
        )

    rng = random.Random(args.seed)
    sample = subs if len(subs) <= args.sample else rng.sample(subs, args.sample)
    fields = [[tokenize(text) for text in paper_fields(p)] for p in papers]
    present = [_word_set(_sequence(p)) for p in papers]
    ref, t_ref = timed(lambda: reference_pairs(sample, papers, fields, present))
    sampled = {t for _, t in sample}
    got = {(t.canonical, j) for t, bits in want.items() if t in sampled for j in _bit_indexes(bits)}
    ref_ok = got == ref
    agree &= ref_ok
    out(
        f"reference matcher on a uniform sample of {len(sample):,} subscriptions x {len(papers):,} papers: "
        f"{len(ref):,} matching (topic, paper) pairs; TopicIndex agrees: {'yes' if ref_ok else 'NO'} ({t_ref:.1f} s)\n"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    out(f"process peak RSS: {mib(rss)} (includes the generated data and the baselines)\n")

    best_label = min(timings, key=timings.__getitem__)
    best = timings[best_label]
    goal = GOAL_S if n_subs >= 1_000_000 and args.papers >= 1000 else None
    ok = agree and t_match <= best and (goal is None or t_match < goal)
    out(
        f"bench.match {name}: median_s={t_match:.3f} cpu_median_s={cpu_match:.3f} baseline={best_label}"
        f" baseline_median_s={best:.3f}"
        f" who_matched_s={t_who:.3f} lists_per_dm_us={per_dm_us:.0f} all_lists_s={t_lists:.2f} build_s={t_build:.2f}"
        f" same_answers={'yes' if agree else 'no'} sample={len(sample)}"
        f" goal={'median_s<' + str(GOAL_S) + ' and <= baseline' if goal else '<= baseline'}"
        f" result={'met' if ok else 'MISSED'}\n"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
