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
    # Counts are whole phrases, because languages put the number differently: "25 papers", "25편".
    one_paper: str = "{n} paper"
    many_papers: str = "{n} papers"
    one_vote: str = "{n} vote"
    many_votes: str = "{n} votes"
    et_al: str = "et al."
    ai_summary: str = "AI summary"
    abstract: str = "Abstract"
    topics: str = "topics"
    matched: str = "matched"
    no_papers: str = "No daily papers for {date}: {reason}."
    matches_title: str = "Papers for your topics — {date}"
    matches_more: str = "…and {count} more matching papers in today's digest."
    lookup_more: str = "Other matches"
    no_match: str = "No paper found for “{query}”."
    showing_results_for: str = "Showing results for"
    closest_titles: str = "Closest titles (not a match)"
    reason_weekend: str = "it is a weekend, when no list is published"
    reason_no_list: str = "no list was published (a holiday?)"
    reason_unreachable: str = "the paper source could not be reached"
    reason_no_match: str = "no paper matched this channel's topics"
    withdrawn: str = "⚠ withdrawn ({date}): left out of digests"
    reason_stale: str = "the newest list is from {last}; nothing newer has come from the source"
    weekly_title: str = "Weekly papers"
    monthly_title: str = "Monthly papers"
    no_period_papers: str = "No papers for {period}: {reason}."
    reason_no_lists: str = "no daily list of the period is stored"

    def papers_count(self, n: int) -> str:
        """Return "1 paper" / "25 papers" (or the language's count word)."""
        return (self.one_paper if n == 1 else self.many_papers).format(n=n)

    def votes_count(self, n: int) -> str:
        """Return "1 vote" / "27 votes" (or the language's count word)."""
        return (self.one_vote if n == 1 else self.many_votes).format(n=n)


LABELS: dict[str, Labels] = {
    "en": Labels(),
    "ko": Labels(
        digest_title="오늘의 논문",
        one_paper="{n}편",
        many_papers="{n}편",
        one_vote="추천 {n}",
        many_votes="추천 {n}",
        et_al="외",
        ai_summary="AI 요약",
        abstract="초록",
        topics="주제",
        matched="일치한 주제",
        no_papers="{date} 데일리 페이퍼가 없습니다: {reason}.",
        matches_title="구독 주제에 맞는 논문 — {date}",
        matches_more="…외 {count}편이 더 있습니다. 오늘의 다이제스트에서 확인하세요.",
        lookup_more="다른 검색 결과",
        no_match="“{query}”에 해당하는 논문이 없습니다.",
        showing_results_for="다음 검색어의 결과",
        closest_titles="비슷한 제목 (일치하지 않음)",
        reason_weekend="주말에는 목록이 발행되지 않습니다",
        reason_no_list="발행된 목록이 없습니다 (공휴일일 수 있습니다)",
        reason_unreachable="논문 출처에 연결할 수 없습니다",
        reason_no_match="이 채널의 주제에 맞는 논문이 없습니다",
        withdrawn="⚠ 철회된 논문 ({date}): 다이제스트에서 제외됨",
        reason_stale="가장 최근 목록이 {last} 것이고, 그 뒤로 새 목록을 받지 못했습니다",
        weekly_title="주간 논문",
        monthly_title="월간 논문",
        no_period_papers="{period} 논문이 없습니다: {reason}.",
        reason_no_lists="이 기간의 데일리 목록이 저장되어 있지 않습니다",
    ),
}


def labels_for(locale: str) -> Labels:
    """Return the labels for ``locale`` ("en", "ko"), or raise ConfigError naming the choices."""
    try:
        return LABELS[locale]
    except KeyError:
        raise ConfigError(f"locale: unknown locale {locale!r}; choose one of {', '.join(LABELS)}") from None
