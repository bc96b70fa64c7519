"""Deterministic, paper-like synthetic records for benchmarks (Zipf-ish ML vocabulary)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import date, timedelta

from digestbot.records import Paper

WORDS = (
    "learning model models language large neural network networks training data diffusion transformer "
    "attention reinforcement policy agent agents vision image images video text generation generative "
    "reasoning retrieval benchmark evaluation efficient scalable sparse quantization pruning distillation "
    "alignment preference feedback reward instruction tuning fine-tuning pretraining multimodal embodied "
    "robot robotic control planning graph graphs contrastive self-supervised representation representations "
    "inference optimization gradient stochastic convergence theory bounds adversarial robust robustness "
    "privacy federated uncertainty calibration causal counterfactual speech audio music 3d scene point cloud "
    "segmentation detection tracking depth estimation medical clinical molecular protein code program synthesis "
    "math mathematical theorem proving chain thought prompting in-context zero-shot few-shot memory long "
    "context compression tokenizer mixture experts routing state space recurrent kernel hardware accelerator "
    "latency throughput serving cache decoding speculative sampling search tree monte carlo bayesian "
    "variational autoencoder flow matching score consistency distillation editing inversion controllable "
    "personalization safety jailbreak red teaming hallucination factuality knowledge editing continual "
    "lifelong curriculum dataset corpus multilingual translation korean low-resource dialogue conversational "
    "summarization question answering open-domain table chart document layout ocr web navigation gui tool use "
    "api function calling simulation world model physics weather climate forecasting time series anomaly"
).split()
NAMES = (
    "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Kim Lee Park Choi Jung Smith Johnson Brown Garcia Miller "
    "Davis Müller Schmidt Rossi Dubois Tanaka Suzuki Sato Nguyen Tran Singh Kumar Sharma Patel Ivanov Novak"
).split()
FIRST = "Wei Jun Min Hao Yu Ji-woo Seo-yeon Alex Maria John Anna Luca Sofia Kenji Yuki Arjun Priya Olga Jan".split()


def _tail(count: int, seed: int = 11) -> list[str]:
    """Pronounceable made-up words standing in for the long tail of a real vocabulary (method names, etc.)."""
    rng = random.Random(seed)
    syllables = "ka ro mi zu te na shi bo la ve qu an ex or in tri lo pha gen net form".split()
    return ["".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(count)]


# The real ML words first, then a long tail: a paper-like vocabulary of ~20k words where a few
# words are in most papers and most words in few (Zipf, 1/rank), as in real titles and abstracts.
VOCABULARY = WORDS + [w for w in dict.fromkeys(_tail(20_000)) if w not in set(WORDS)]
_CUM = list(itertools.accumulate(1 / rank for rank in range(1, len(VOCABULARY) + 1)))


def _zipf_words(rng: random.Random, n: int) -> list[str]:
    return rng.choices(VOCABULARY, cum_weights=_CUM, k=n)


def synthetic_papers(count: int, *, seed: int = 1, start: date = date(2019, 1, 1)) -> Iterator[Paper]:
    """Yield ``count`` papers with unique new-style ids, oldest first (so rowid order = age)."""
    rng = random.Random(seed)
    per_day = max(1, count // 2500)
    for i in range(count):
        day = start + timedelta(days=i // per_day)
        yymm = f"{day.year % 100:02d}{day.month:02d}"
        number = (i % 90000) + 10000
        title = " ".join(_zipf_words(rng, rng.randint(6, 12))).capitalize()
        yield Paper(
            arxiv_id=f"{yymm}.{number:05d}",
            title=title,
            authors=tuple(f"{rng.choice(FIRST)} {rng.choice(NAMES)}" for _ in range(rng.randint(2, 7))),
            abstract=" ".join(_zipf_words(rng, rng.randint(40, 80))),
            keywords=tuple(_zipf_words(rng, 3)),
            votes=rng.randint(0, 200),
            digest_date=day,
            source="synthetic",
        )


# -- subscriptions ------------------------------------------------------------------------------

SubscriptionRow = tuple[str, str, str, str]
"""platform, workspace, user id, topic: a row of the subscriptions table."""


class _Topics:
    """Draw topic texts as people write them: mostly one subject word or phrase, a long tail of rare ones."""

    def __init__(self, rng: random.Random) -> None:
        from bench.vocabulary import GENERIC, KO_SPECIFIC, PHRASES, SPECIFIC, zipf_weights

        self.rng = rng
        self.specific, self.phrases, self.korean, self.generic = SPECIFIC, PHRASES, KO_SPECIFIC, GENERIC
        self._specific = zipf_weights(len(SPECIFIC), 1.1)
        self._phrases = zipf_weights(len(PHRASES), 1.0)
        self._korean = zipf_weights(len(KO_SPECIFIC), 0.9)
        # Method and dataset names, acronyms: words that few papers contain and few people follow.
        self.rare = VOCABULARY[len(WORDS) :]

    def term(self) -> str:
        r, x = self.rng, self.rng.random()
        if x < 0.18:
            return '"' + r.choices(self.phrases, cum_weights=self._phrases)[0] + '"'
        if x < 0.26:
            return r.choices(self.korean, cum_weights=self._korean)[0]
        if x < 0.28:  # "model", "data": people do subscribe to these, a few of them
            return r.choice(self.generic)
        if x < 0.78:
            return r.choices(self.specific, cum_weights=self._specific)[0]
        return r.choice(self.rare)

    def text(self) -> str:
        r = self.rng
        terms = list(dict.fromkeys(self.term() for _ in range(r.choices((1, 2, 3), weights=(60, 30, 10))[0])))
        if r.random() < 0.15:
            terms.append("-" + r.choice(["survey", "benchmark", '"position paper"', "medical", "robot"]))
        return " ".join(terms)


def synthetic_subscriptions(count: int, *, seed: int = 5) -> list[SubscriptionRow]:
    """Return ``count`` subscription rows shaped like a big deployment's.

    ~count/2.5 users on Discord and Slack (2:1) in a few hundred workspaces of Zipf-like sizes;
    a user follows 1-20 topics (half follow one); topics are 1-3 terms (single words, quoted
    phrases, Korean nouns, ~15% with an exclusion) drawn from popular subject words with a Zipf
    skew plus a long tail of rare method-like words, so there are many distinct topics and a few
    very popular ones. Topics are stored in canonical form, as ``/subscribe`` stores them;
    texts that do not parse are drawn again. Deterministic for a given seed.
    """
    from digestbot.errors import CommandError
    from digestbot.topics import parse_topic

    rng = random.Random(seed)
    topics = _Topics(rng)
    canonical: dict[str, str | None] = {}
    workspaces = [f"T{i:05d}" for i in range(300)]
    ws_weights = list(itertools.accumulate(1 / rank for rank in range(1, len(workspaces) + 1)))
    rows: list[SubscriptionRow] = []
    user = 0
    while len(rows) < count:
        user += 1
        platform = "slack" if user % 3 == 0 else "discord"
        workspace = rng.choices(workspaces, cum_weights=ws_weights)[0]
        wanted = min(20, 1 + int(rng.expovariate(0.7)))
        mine: set[str] = set()
        for _ in range(wanted):
            raw = topics.text()
            if raw not in canonical:
                try:
                    canonical[raw] = parse_topic(raw).canonical
                except CommandError:
                    canonical[raw] = None
            text = canonical[raw]
            if text is not None and text not in mine and len(rows) < count:
                mine.add(text)
                rows.append((platform, workspace, f"U{user:07d}", text))
    return rows


# -- realistic papers for bench.lookup (issue #16): abstract lengths, stopwords, a long tail ----------

STOP = (
    "the of and to in a for is we that on with this by are as an our from be which can at it both these "
    "than while not such also has have its into over using based show results method approach propose "
    "paper new two however more between each where when across only"
).split()
"""Function words and boilerplate: about 45% of a real abstract's words."""

_KO_SYLLABLES = (
    "양자화모델언어학습추론생성확산데이터성능효율기반방법제안실험결과검색지식강화정렬평가토큰압축시각영상음성"
)
_KO_PARTICLES = ("", "", "는", "을", "의", "에서", "로", "과", "이", "를")


def _made_up(rng: random.Random, syllables: list[str], k: tuple[int, int]) -> str:
    return "".join(rng.choices(syllables, k=rng.randint(*k)))


def _vocab(seed: int) -> tuple[list[str], list[str], list[str], list[str], list[str]]:
    """Return (content words, surnames, first names, Korean words, method names): fixed for a seed."""
    rng = random.Random(seed)
    syl = "ka ro mi zu te na shi bo la ve qu an ex or in tri lo pha gen net form du ser pol vin ma cor lu".split()
    tail = list(dict.fromkeys(_made_up(rng, syl, (2, 4)) for _ in range(60_000)))
    content = WORDS + [w for w in tail if w not in set(WORDS)]
    name_syl = "han li wen jo mar sa ko ri ta de vi ka no pe su min jae hyun er in ol ga chen zhu bo ra".split()
    surnames = list(dict.fromkeys(_made_up(rng, name_syl, (1, 3)).capitalize() for _ in range(30_000)))
    firsts = list(dict.fromkeys(_made_up(rng, name_syl, (2, 3)).capitalize() for _ in range(5_000)))
    korean = list(dict.fromkeys(_made_up(rng, list(_KO_SYLLABLES), (2, 4)) for _ in range(8_000)))
    methods = list(
        dict.fromkeys(
            _made_up(rng, syl, (2, 3)).capitalize() + rng.choice(("", "", "Net", "GPT", "-2")) for _ in range(200_000)
        )
    )
    return content, surnames, firsts, korean, methods


def realistic_papers(
    count: int, *, seed: int = 1, start: date = date(2019, 1, 1), korean_share: float = 0.1
) -> Iterator[Paper]:
    """Yield ``count`` paper-like records, oldest first (rowid order = age), for lookup benchmarks.

    Titles of 5–14 words (most open with a made-up method name, as in "PrefixQuant: …"), 2–12
    authors from a long tail of names, abstracts of 150–250 words (about 45% function words, the
    rest Zipf over ~60k content words), 3 keywords, and for ``korean_share`` of papers a Korean
    summary of 30–60 words with particles attached (``양자화는``), as stored summaries have.
    Abstracts are stitched from a pool of Zipf phrases plus fresh Zipf words so a million of them
    take seconds to make, not minutes.
    """
    content, surnames, firsts, korean, methods = _vocab(seed)
    rng = random.Random(seed)
    cum = list(itertools.accumulate(1 / rank for rank in range(1, len(content) + 1)))
    kcum = list(itertools.accumulate(1 / rank for rank in range(1, len(korean) + 1)))
    phrases = []
    for _ in range(40_000):
        n = rng.randint(6, 10)
        ws = rng.choices(content, cum_weights=cum, k=n)
        for _ in range(int(n * 0.8)):
            ws.insert(rng.randrange(len(ws) + 1), rng.choice(STOP))
        phrases.append(" ".join(ws))
    per_day = max(1, count // 2500)
    for i in range(count):
        day = start + timedelta(days=i // per_day)
        yymm = f"{day.year % 100:02d}{day.month:02d}"
        number = (i % 90000) + 10000
        body = rng.choices(content, cum_weights=cum, k=4 + int(rng.random() * 6))
        stops = rng.choices(STOP[:12], k=1 + int(rng.random() * 3))
        title = " ".join(body[:2] + stops[:1] + body[2:4] + stops[1:] + body[4:]).capitalize()
        if rng.random() < 0.6:
            title = f"{methods[int(rng.random() * len(methods))]}: {title}"
        n = 11 + int(rng.random() * 7)
        parts = rng.choices(phrases, k=n)
        fresh = rng.choices(content, cum_weights=cum, k=n)
        sections: tuple[tuple[str, str], ...] = ()
        if rng.random() < korean_share:
            ko = rng.choices(korean, cum_weights=kcum, k=30 + int(rng.random() * 31))
            particles = rng.choices(_KO_PARTICLES, k=len(ko))
            sections = (("What's New", " ".join(w + p for w, p in zip(ko, particles, strict=True))),)
        n_authors = 2 + int(rng.random() * 11)
        names = zip(rng.choices(firsts, k=n_authors), rng.choices(surnames, k=n_authors), strict=True)
        yield Paper(
            arxiv_id=f"{yymm}.{number:05d}",
            title=title,
            authors=tuple(f"{first} {last}" for first, last in names),
            abstract=" ".join(f"{p} {w}" for p, w in zip(parts, fresh, strict=True)).capitalize() + ".",
            sections=sections,
            keywords=tuple(rng.choices(content, cum_weights=cum, k=3)),
            votes=rng.randint(0, 200),
            digest_date=day,
            source="synthetic",
        )
