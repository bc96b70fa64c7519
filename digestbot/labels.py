"""Localised words the formatter puts around paper text (English default, Korean bundled).

Only digestbot's own words are translated; a source's own section names ("What's New") are shown
as the source wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass

from digestbot.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class Labels:
    """The words of one language."""

    digest_title: str = "Daily Papers"
    papers: str = "papers"
    paper: str = "paper"
    votes: str = "votes"
    vote: str = "vote"
    et_al: str = "et al."
    ai_summary: str = "AI summary"
    abstract: str = "Abstract"
    topics: str = "topics"
    matched: str = "matched"
    no_papers: str = "No daily papers for {date}: {reason}."
    matches_title: str = "Papers for your topics — {date}"
    lookup_more: str = "Other matches"
    no_match: str = "No paper found for “{query}”."
    showing_results_for: str = "Showing results for"
    closest_titles: str = "Closest titles (not a match)"
    reason_weekend: str = "it is a weekend, when no list is published"
    reason_no_list: str = "no list was published (a holiday?)"
    reason_unreachable: str = "the paper source could not be reached"
    reason_no_match: str = "no paper matched this channel's topics"


LABELS: dict[str, Labels] = {
    "en": Labels(),
    "ko": Labels(
        digest_title="오늘의 논문",
        papers="편",
        paper="편",
        votes="추천",
        vote="추천",
        et_al="외",
        ai_summary="AI 요약",
        abstract="초록",
        topics="주제",
        matched="일치",
        no_papers="{date} 데일리 페이퍼가 없습니다: {reason}.",
        matches_title="구독 주제에 맞는 논문 — {date}",
        lookup_more="다른 검색 결과",
        no_match="“{query}”에 해당하는 논문이 없습니다.",
        showing_results_for="다음 검색어의 결과",
        closest_titles="비슷한 제목 (일치하지 않음)",
        reason_weekend="주말에는 목록이 발행되지 않습니다",
        reason_no_list="발행된 목록이 없습니다 (공휴일?)",
        reason_unreachable="논문 출처에 연결할 수 없습니다",
        reason_no_match="이 채널의 주제에 맞는 논문이 없습니다",
    ),
}


def labels_for(locale: str) -> Labels:
    """Return the labels for ``locale`` ("en", "ko"), or raise ConfigError naming the choices."""
    try:
        return LABELS[locale]
    except KeyError:
        raise ConfigError(f"locale: unknown locale {locale!r}; choose one of {', '.join(LABELS)}") from None
