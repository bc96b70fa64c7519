"""Benchmark topic matching: TopicIndex against the naive every-subscription-times-every-paper loop.

Run ``python -m bench.match [--papers 1000] [--subs 100000] [--million] [--seed N]``.

The data are synthetic but shaped like the real thing: titles and abstracts drawn from a Zipf-ish
vocabulary of real ML words (with hyphenated compounds), summary sections in Korean with
particles attached and English terms mixed in (as in the seed digest), and topics of 1-3 terms
(single words, quoted phrases, hyphenated compounds, some Korean, ~15% with an exclusion) whose
popularity is skewed so that a few topics are very popular and most are rare.

Both matchers run in the same process on the same data. The naive loops are timed on a sample of
subscriptions against every paper and extrapolated to all subscriptions (the output says so):
``reference`` is :func:`digestbot.matching.reference_match` as is (it tokenises the paper on every
call), ``naive`` is the same loop with every paper tokenised once up front, the fairest naive
baseline. On the sample, the index must agree with both, pair for pair. ``match_all`` decides who
matched which papers; building every subscriber's ``(paper, topic)`` list is timed apart, because
its cost is the size of the output (it happens as a notifier reads the result). Peak memory comes
from a second, traced run (tracemalloc slows code down, so timings come from the untraced run).
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from bench.machine import describe_machine
from digestbot.errors import CommandError
from digestbot.matching import TopicIndex, _Batch, _reference_match_fields, reference_match
from digestbot.records import Paper
from digestbot.topics import Topic, paper_fields, parse_topic, tokenize

T = TypeVar("T")

# Words every ML abstract uses, whatever its subject.
GENERIC = [
    "model",
    "models",
    "method",
    "methods",
    "data",
    "training",
    "performance",
    "results",
    "approach",
    "framework",
    "task",
    "tasks",
    "learning",
    "large",
    "language",
    "evaluation",
    "benchmark",
    "benchmarks",
    "dataset",
    "datasets",
    "experiments",
    "state-of-the-art",
    "baseline",
    "baselines",
    "accuracy",
    "tuning",
    "fine-tuning",
    "generalization",
    "analysis",
    "study",
    "efficient",
    "effective",
    "scale",
]

# Subject words, roughly from most to least popular in daily-paper titles.
SPECIFIC = [
    "llm",
    "llms",
    "diffusion",
    "reasoning",
    "multimodal",
    "agents",
    "agent",
    "vision",
    "video",
    "image",
    "generation",
    "alignment",
    "reinforcement",
    "retrieval",
    "code",
    "math",
    "mllm",
    "vlm",
    "transformer",
    "attention",
    "instruction",
    "knowledge",
    "prompt",
    "reward",
    "preference",
    "safety",
    "quantization",
    "pruning",
    "distillation",
    "compression",
    "sparse",
    "moe",
    "experts",
    "tokens",
    "long-context",
    "memory",
    "embedding",
    "contrastive",
    "self-supervised",
    "graph",
    "gnn",
    "3d",
    "scene",
    "rendering",
    "nerf",
    "gaussian",
    "splatting",
    "speech",
    "audio",
    "music",
    "robot",
    "robotics",
    "manipulation",
    "navigation",
    "planning",
    "world",
    "simulation",
    "physics",
    "molecular",
    "protein",
    "biology",
    "medical",
    "clinical",
    "chemistry",
    "materials",
    "climate",
    "weather",
    "forecasting",
    "time-series",
    "tabular",
    "recommendation",
    "search",
    "ranking",
    "question",
    "answering",
    "dialogue",
    "summarization",
    "translation",
    "multilingual",
    "low-resource",
    "korean",
    "chinese",
    "japanese",
    "arabic",
    "hindi",
    "segmentation",
    "detection",
    "tracking",
    "classification",
    "captioning",
    "grounding",
    "editing",
    "inpainting",
    "super-resolution",
    "synthesis",
    "text-to-image",
    "text-to-video",
    "image-to-video",
    "text-to-speech",
    "autoregressive",
    "masked",
    "latent",
    "vae",
    "gan",
    "flow",
    "consistency",
    "sampling",
    "decoding",
    "speculative",
    "kv",
    "cache",
    "serving",
    "latency",
    "throughput",
    "hardware",
    "gpu",
    "fpga",
    "kernels",
    "parallelism",
    "distributed",
    "federated",
    "privacy",
    "unlearning",
    "watermarking",
    "hallucination",
    "factuality",
    "calibration",
    "uncertainty",
    "interpretability",
    "mechanistic",
    "probing",
    "steering",
    "circuits",
    "sae",
    "lora",
    "adapters",
    "peft",
    "rlhf",
    "dpo",
    "ppo",
    "grpo",
    "chain-of-thought",
    "verifier",
    "tool",
    "function-calling",
    "web",
    "gui",
    "software",
    "repair",
    "theorem",
    "proving",
    "formal",
    "lean",
    "olympiad",
    "geometry",
    "algebra",
    "arithmetic",
    "curriculum",
    "synthetic",
    "self-improvement",
    "self-play",
    "critique",
    "judge",
    "llm-as-a-judge",
    "arena",
    "leaderboard",
    "contamination",
    "mamba",
    "state-space",
    "ssm",
    "rnn",
    "recurrent",
    "convolutional",
    "cnn",
    "vit",
    "clip",
    "siglip",
    "dino",
    "sam",
]

# Korean nouns as they appear in summaries, and the particles/endings written onto them.
KO_GENERIC = [
    "모델",
    "언어",
    "대형",
    "데이터",
    "학습",
    "성능",
    "방법",
    "제안",
    "연구",
    "논문",
    "벤치마크",
    "작업",
    "결과",
    "기존",
]
KO_SPECIFIC = [
    "추론",
    "생성",
    "이미지",
    "비디오",
    "텍스트",
    "양자화",
    "확산",
    "정렬",
    "강화",
    "에이전트",
    "평가",
    "효율",
    "토큰",
    "메모리",
    "검색",
    "지식",
    "코드",
    "수학",
    "멀티모달",
    "비전",
    "프롬프트",
    "최적화",
    "보상",
    "안전성",
    "압축",
    "증류",
    "표현",
    "임베딩",
    "그래프",
    "로봇",
    "음성",
    "번역",
    "요약",
    "분류",
    "탐지",
    "분할",
    "합성",
    "편집",
]
KO_PARTICLES = ["", "", "을", "를", "의", "은", "는", "이", "가", "에서", "으로", "과", "와", "에", "들을"]
KO_FILLER = [
    "이",
    "논문은",
    "새로운",
    "기존의",
    "효과적으로",
    "다양한",
    "향상시킵니다",
    "제안합니다",
    "보여줍니다",
    "특히",
    "또한",
    "통해",
]
EN_FILLER = [
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "for",
    "we",
    "that",
    "is",
    "on",
    "with",
    "this",
    "by",
    "our",
    "as",
    "are",
    "from",
    "an",
    "be",
    "which",
    "can",
    "results",
    "show",
    "propose",
    "novel",
    "approach",
    "existing",
    "while",
    "across",
    "both",
    "than",
    "more",
    "these",
    "using",
    "based",
]

PHRASES = [
    "large language model",
    "language model",
    "diffusion model",
    "reinforcement learning",
    "vision language model",
    "in-context learning",
    "chain of thought",
    "mixture of experts",
    "state space model",
    "knowledge distillation",
    "retrieval augmented generation",
    "instruction tuning",
    "preference optimization",
    "reward model",
    "world model",
    "question answering",
    "code generation",
    "image generation",
    "video generation",
    "speculative decoding",
    "kv cache",
    "position paper",
    "대형 언어 모델",
    "강화 학습",
]


def zipf_weights(n: int, exponent: float) -> list[float]:
    """Return cumulative Zipf weights for ranks 1..n (for ``random.choices(cum_weights=...)``)."""
    total, out = 0.0, []
    for rank in range(1, n + 1):
        total += 1 / rank**exponent
        out.append(total)
    return out


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
        title_words = [
            r.choice(subject) if r.random() < 0.5 else r.choice(GENERIC) for _ in range(r.randint(5, 10))
        ]
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
            terms.append(
                "-" + self.rng.choice(["survey", "benchmark", '"position paper"', "medical", "robot"])
            )
        return " ".join(terms)


def make_subscriptions(gen: Generator, count: int) -> list[tuple[tuple[str, int], Topic]]:
    """Draw ``count`` subscriptions by ~count/2.5 users (some users have several topics)."""
    parsed: dict[str, Topic | None] = {}
    users = max(1, int(count / 2.5))
    out: list[tuple[tuple[str, int], Topic]] = []
    while len(out) < count:
        raw = gen.topic_text()
        if raw not in parsed:
            try:
                parsed[raw] = parse_topic(raw)
            except CommandError:  # e.g. "diffusion -survey -survey" style clashes: draw again
                parsed[raw] = None
        topic = parsed[raw]
        if topic is not None:
            user = gen.rng.randrange(users)
            out.append((("discord" if user % 3 else "slack", user), topic))
    return out


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Run ``fn`` once with the garbage collector paused; return its result and wall seconds."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - start
    finally:
        gc.enable()


def traced_peak(fn: Callable[[], Any]) -> int:
    """Return the peak bytes Python allocated while running ``fn`` (kept alive until the end)."""
    gc.collect()
    tracemalloc.start()
    try:
        kept = fn()
        _, peak = tracemalloc.get_traced_memory()
        del kept
        return peak
    finally:
        tracemalloc.stop()


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def naive_loop(
    sample: list[tuple[Any, Topic]], papers: list[Paper], match: Callable[[Topic, int], bool]
) -> set[tuple[Any, str, int]]:
    """Test every sampled subscription against every paper; return the matching triples."""
    return {(key, t.canonical, j) for key, t in sample for j in range(len(papers)) if match(t, j)}


def indexed_triples(
    result: Mapping[Any, list[tuple[Paper, Topic]]], papers: list[Paper]
) -> Iterator[tuple[Any, Topic, int]]:
    """Yield ``(subscriber, topic, paper index)`` for every pair in ``result``."""
    where = {id(p): j for j, p in enumerate(papers)}
    for key, pairs in result.items():
        for paper, topic in pairs:
            yield key, topic, where[id(paper)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.match", description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=1000, help="papers in the digest (default 1000)")
    parser.add_argument("--subs", type=int, default=100_000, help="subscriptions (default 100000)")
    parser.add_argument("--million", action="store_true", help="use 1,000,000 subscriptions")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--sample", type=int, default=50, help="subscriptions timed in the naive loop")
    parser.add_argument("--repeat", type=int, default=3, help="timed match runs; the best is reported")
    parser.add_argument("--no-memory", action="store_true", help="skip the traced run for peak memory")
    args = parser.parse_args(argv)
    n_subs = 1_000_000 if args.million else args.subs
    out = sys.stdout.write

    out(f"machine: {describe_machine()}\n")
    gen = Generator(args.seed)
    (papers, subs), t_data = timed(
        lambda: ([gen.paper(i) for i in range(args.papers)], make_subscriptions(gen, n_subs))
    )
    n_words = sum(len(tokenize(text)) for p in papers for text in paper_fields(p))
    distinct = len({t for _, t in subs})
    out(
        f"data: {len(papers):,} papers ({n_words:,} words), {len(subs):,} subscriptions, "
        f"{distinct:,} distinct topics, {len({k for k, _ in subs}):,} subscribers "
        f"(generated in {t_data:.1f} s, seed {args.seed})\n"
    )

    index, t_build = timed(lambda: TopicIndex(subs))
    runs = [timed(lambda: index.match_all(papers)) for _ in range(max(1, args.repeat))]
    result, t_match = min(runs, key=lambda r: r[1])
    _, t_prepare = timed(lambda: _Batch(papers))
    # What notifying everyone would add: build each subscriber's list once, one at a time.
    n_pairs, t_lists = timed(lambda: sum(len(pairs) for pairs in result.values()))
    out(f"index build: {t_build:.3f} s for {index.topic_count:,} distinct topics\n")
    out(
        f"index match_all: {t_match:.3f} s (best of {len(runs)}: "
        f"{', '.join(f'{s:.3f}' for _, s in runs)}), of which tokenising papers and building "
        f"word bitsets {t_prepare:.3f} s; "
        f"{len(result):,} subscribers matched\n"
    )
    out(
        f"building every matched subscriber's (paper, topic) list once: {t_lists:.3f} s "
        f"for {n_pairs:,} pairs ({n_pairs / max(1, len(result)):,.0f} per subscriber)\n"
    )

    rng = random.Random(args.seed)
    sample = subs if len(subs) <= args.sample else rng.sample(subs, args.sample)
    ref_sample = sample[: max(1, len(sample) // 10)]
    pairs_total = len(subs) * len(papers)
    fields = [[tokenize(text) for text in paper_fields(p)] for p in papers]
    naive_hits, t_naive = timed(
        lambda: naive_loop(sample, papers, lambda t, j: _reference_match_fields(t, fields[j]))
    )
    ref_hits, t_ref = timed(
        lambda: naive_loop(ref_sample, papers, lambda t, j: reference_match(t, papers[j]))
    )
    extrapolated = len(sample) < len(subs)
    naive_full = t_naive / (len(sample) * len(papers)) * pairs_total
    ref_full = t_ref / (len(ref_sample) * len(papers)) * pairs_total
    how = "extrapolated from a sample of" if extrapolated else "measured on all"
    out(
        f"naive loop, papers tokenised once: {naive_full:,.1f} s "
        f"({how} {len(sample):,} subscriptions x {len(papers):,} papers = {t_naive:.2f} s)\n"
    )
    out(
        f"naive loop, reference_match as is: {ref_full:,.1f} s "
        f"({how} {len(ref_sample):,} subscriptions x {len(papers):,} papers = {t_ref:.2f} s)\n"
    )
    out(
        f"speed-up of match_all: {naive_full / t_match:,.0f}x over naive, "
        f"{ref_full / t_match:,.0f}x over reference\n"
    )

    sampled = {(k, t.canonical) for k, t in sample}
    indexed = {
        (k, t.canonical, where)
        for k in {k for k, _ in sample}
        for k2, t, where in indexed_triples({k: result[k]} if k in result else {}, papers)
        if (k2, t.canonical) in sampled
    }
    ref_keys = {(k, t.canonical) for k, t in ref_sample}
    agree = indexed == naive_hits and {x for x in indexed if (x[0], x[1]) in ref_keys} == ref_hits
    out(
        f"agreement on the sample: {'yes' if agree else 'NO'} "
        f"({len(naive_hits):,} matching (subscription, paper) pairs in the sample)\n"
    )

    if not args.no_memory:
        peak_build = traced_peak(lambda: TopicIndex(subs))
        peak_match = traced_peak(lambda: index.match_all(papers))
        out(f"peak memory (tracemalloc): index build {mib(peak_build)}, match_all {mib(peak_match)}\n")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    out(f"process peak RSS: {mib(rss)} (includes the generated data and the naive loops)\n")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
