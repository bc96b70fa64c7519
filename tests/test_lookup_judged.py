"""A judged query set: what people type for the bundled sample's papers, among thousands of distractors.

Each query names the papers a person would accept as the answer (several when the query fits several
equally, e.g. "difusion"), or NONE when the archive holds nothing it means. The archive is the
sample digest plus 3,000 synthetic paper-like distractors (bench.synthetic.realistic_papers, 10%
with Korean summaries). This is the set MATCH_SCORE in digestbot/lookup.py was chosen on.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from bench.synthetic import realistic_papers
from digestbot.lookup import lookup, result_json
from digestbot.sources.files import load_file
from digestbot.store import Store, open_store
from tests.conftest import SEED

NONE: frozenset[str] = frozenset()
PREFIXQUANT, RECTIFIED, MATHCODER, RETRIEVER, KERNELS = (
    "2410.05265",
    "2410.07303",
    "2410.08196",
    "2410.03450",
    "2410.08049",
)

JUDGED: list[tuple[str, str, frozenset[str]]] = [
    # typos
    ("typo", "progresive video difusion", frozenset({"2410.08151"})),
    ("typo", "mathcodr", frozenset({MATHCODER})),
    ("typo", "kernal design", frozenset({KERNELS})),
    ("typo", "retreiver multimodal", frozenset({RETRIEVER})),
    ("typo", "rectifed difusion", frozenset({RECTIFIED})),
    ("typo", "mathcoder2 continud pretraining", frozenset({MATHCODER})),
    ("typo", "prefxquant", frozenset({PREFIXQUANT})),
    ("typo", "agentc workflow", frozenset({"2410.07869"})),
    ("typo", "superpositon in-context", frozenset({"2410.05603"})),
    ("typo", "emergant properties repeated", frozenset({"2410.07041"})),
    # word order
    ("order", "quantization static prefixed", frozenset({PREFIXQUANT})),
    ("order", "diffusion rectified", frozenset({RECTIFIED})),
    ("order", "workflow agentic benchmarking", frozenset({"2410.07869"})),
    ("order", "video diffusion progressive autoregressive", frozenset({"2410.08151"})),
    ("order", "null models cheating benchmarks", frozenset({"2410.07137"})),
    # as typed: the last word half-written
    ("prefix", "prefix quant", frozenset({PREFIXQUANT})),
    ("prefix", "rectified diffu", frozenset({RECTIFIED})),
    ("prefix", "cheating automatic llm bench", frozenset({"2410.07137"})),
    ("prefix", "motiongs", frozenset({"2410.07707"})),
    ("prefix", "gaussian splat", frozenset({"2410.07707"})),
    ("prefix", "data advis", frozenset({"2410.05269"})),
    ("prefix", "vector-i", frozenset({"2410.05629"})),
    # authors
    ("author", "Houxing Ren", frozenset({MATHCODER})),
    ("author", "Ren Houxing", frozenset({MATHCODER})),
    ("author", "Ren mathcoder", frozenset({MATHCODER})),
    ("author", "Jiahao Wang Mengzhao Chen", frozenset({PREFIXQUANT})),
    ("author", "Börje Karlsson", frozenset({RETRIEVER})),
    ("author", "borje karlsson retriever", frozenset({RETRIEVER})),
    ("author", "Julia Kempe", frozenset({"2410.07041"})),
    ("author", "Charton emergent", frozenset({"2410.07041"})),
    # links and ids
    ("link", "arxiv.org/abs/2410.05265", frozenset({PREFIXQUANT})),
    ("link", "https://arxiv.org/pdf/2410.07303v2", frozenset({RECTIFIED})),
    ("link", "www.arxiv.org/abs/2410.08207v1", frozenset({"2410.08207"})),
    ("link", "huggingface.co/papers/2410.08049", frozenset({KERNELS})),
    ("link", "https://www.alphaxiv.org/abs/2410.05603", frozenset({"2410.05603"})),
    ("link", "ar5iv.labs.arxiv.org/html/2410.07041", frozenset({"2410.07041"})),
    ("link", "arxiv.org/html/2410.05629v1", frozenset({"2410.05629"})),
    ("link", "arXiv:2410.04808v3", frozenset({"2410.04808"})),
    ("link", "2410.03437", frozenset({"2410.03437"})),
    ("link", "https://arxiv.org/pdf/2410.08196v1.pdf", frozenset({MATHCODER})),
    # Korean words of the stored summaries: a prefix or the middle of a word
    ("korean", "동적 양자", frozenset({PREFIXQUANT})),
    ("korean", "양자화 잔차", frozenset({PREFIXQUANT})),
    ("korean", "재훈", frozenset({PREFIXQUANT})),
    ("korean", "출현", frozenset({PREFIXQUANT})),
    ("korean", "회귀 중첩", frozenset({"2410.08151"})),
    ("korean", "커널", frozenset({KERNELS})),
    ("korean", "중첩", frozenset({"2410.08151"})),
    ("korean", "전문가", frozenset({"2410.04808"})),
    # nonsense and absent papers: the answer must be "No paper found"
    ("nonsense", "quantum chromodynamics", NONE),
    ("nonsense", "chocolate cake recipe", NONE),
    ("nonsense", "zzzzqqq", NONE),
    ("nonsense", "best pizza in seoul", NONE),
    ("nonsense", "asdf qwer", NONE),
    ("nonsense", "medieval poetry", NONE),
    ("nonsense", "김치찌개 레시피", NONE),
    ("nonsense", "hep-th/9901001", NONE),
    ("nonsense", "2401.99999", NONE),
]


async def test_judged_query_set(any_seeded_store: Store) -> None:
    await any_seeded_store.bulk_load(itertools.islice(realistic_papers(3000, seed=5), 3000))
    assert len(JUDGED) >= 40
    hits_at_1 = hits_at_3 = answered_nonsense = 0
    misses = []
    for kind, query, expected in JUDGED:
        result = await lookup(any_seeded_store, query)
        top = [p.arxiv_id for p in (result.best, *result.others) if p is not None]
        if not expected:
            answered_nonsense += result.best is not None
            ok1 = ok3 = result.best is None
        else:
            ok1 = bool(top) and top[0] in expected
            ok3 = bool(expected & set(top[:3]))
        hits_at_1 += ok1
        hits_at_3 += ok3
        if not ok3:
            misses.append((kind, query, top[:3], result.how))
    print(f"success@1={hits_at_1 / len(JUDGED):.3f} success@3={hits_at_3 / len(JUDGED):.3f} misses={misses}")
    assert answered_nonsense == 0, misses
    assert hits_at_3 / len(JUDGED) >= 0.95, misses


async def test_both_backends_give_the_same_answers(tmp_path: Path, pg_url: str) -> None:
    # Not only good enough on each: the same best match, others, scores, corrections and closest titles.
    answers = []
    for target in (tmp_path / "judged.sqlite3", pg_url):
        store = await open_store(target)
        try:
            loaded = load_file(SEED)
            await store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
            await store.bulk_load(itertools.islice(realistic_papers(3000, seed=5), 3000))
            queries = [q for _, q, _ in JUDGED] + ["kernal", "transformer", "diffusion model", "language mo", "llm"]
            answers.append({q: result_json(await lookup(store, q)) for q in queries})
        finally:
            await store.close()
    sqlite_answers, postgres_answers = answers
    differ = [q for q in sqlite_answers if sqlite_answers[q] != postgres_answers[q]]
    assert not differ, [(q, sqlite_answers[q], postgres_answers[q]) for q in differ[:3]]
