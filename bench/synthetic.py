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
