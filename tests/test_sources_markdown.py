from datetime import date
from pathlib import Path

from digestbot.sources.files import load_file
from digestbot.sources.markdown import arxiv_id_from_url, resolve_image_url

WHATS_NEW = "What's New"


def test_seed_loads_25_papers(seed_path: Path) -> None:
    loaded = load_file(seed_path)
    assert loaded.format == "markdown"
    assert loaded.digest_date == date(2024, 10, 11)
    assert len(loaded.papers) == 25
    assert len({p.arxiv_id for p in loaded.papers}) == 25
    assert all(p.digest_date == date(2024, 10, 11) for p in loaded.papers)
    assert all(p.sections and p.sections[0][0] == WHATS_NEW for p in loaded.papers)


def test_seed_spot_checks(seed_path: Path) -> None:
    papers = {p.arxiv_id: p for p in load_file(seed_path).papers}
    first = papers["2410.08196"]
    assert first.title.startswith("MathCoder2: Better Math Reasoning")
    assert first.votes == 27
    assert first.authors[0] == "Houxing Ren" and first.authors[-1] == "Aojun Zhou" and len(first.authors) == 8
    assert first.thumbnail == "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2410.08196.png"
    assert [label for label, _ in first.sections] == [WHATS_NEW, "Technical Details", "Performance Highlights"]
    assert first.sections[2][1].endswith("4.1% 향상되었습니다.")

    pq = papers["2410.05265"]
    assert pq.title == "PrefixQuant: Static Quantization Beats Dynamic through Prefixed Outliers in LLMs"
    assert pq.votes == 25
    assert pq.authors == ("Jiahao Wang", "Yi Bin", "Yi Liu", "Ping Luo", "Wenqi Shao", "Mengzhao Chen")
    assert "5.91 perplexity" in pq.sections[2][1]

    mart = papers["2410.03450"]
    assert "Börje F. Karlsson" in mart.authors

    agent_s = papers["2410.08164"]
    assert agent_s.votes == 9
    assert [label for label, _ in agent_s.sections] == [WHATS_NEW]
    # A site-relative avatar path is resolved against the site, never passed on as a broken URL.
    assert agent_s.thumbnail == "https://huggingface.co/avatars/05abee0b6317f100923936ca2099e9eb.svg"

    only_new = [p.arxiv_id for p in papers.values() if len(p.sections) == 1]
    assert len(only_new) == 3


def test_url_helpers() -> None:
    assert arxiv_id_from_url("https://arxiv.org/abs/2410.05265v2") == "2410.05265"
    assert arxiv_id_from_url("https://arxiv.org/pdf/2410.05265.pdf") == "2410.05265"
    assert arxiv_id_from_url("https://huggingface.co/papers/2410.05265") == "2410.05265"
    assert arxiv_id_from_url("http://export.arxiv.org/abs/hep-th/9901001") == "hep-th/9901001"
    assert arxiv_id_from_url("https://example.com/abs/2410.05265") is None
    assert arxiv_id_from_url("javascript:alert(1)") is None
    assert resolve_image_url("/avatars/x.svg") == "https://huggingface.co/avatars/x.svg"
    assert resolve_image_url("javascript:alert(1)") is None
    assert resolve_image_url("data:image/png;base64,AAAA") is None
    assert resolve_image_url("relative.png") is None
    assert resolve_image_url("") is None
