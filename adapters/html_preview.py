"""Render messages as one self-contained HTML page showing how they look in Discord and in Slack.

The page is built from the *payloads* :func:`~adapters.discord_render.render_discord` and
:func:`~adapters.slack_render.render_slack` return, not from the neutral blocks, so it shows
exactly what would be posted: cut texts, escapes, part numbers, dropped thumbnails. Inline CSS,
no script, no external resource except the paper thumbnails as ``<img>``; every piece of text goes
through :func:`html.escape`.

The two markup interpreters below are previews, not full re-implementations: they handle what
the renderers emit (Discord ``**bold**``, ``-#`` subtext, ``[label](url)`` and backslash escapes;
Slack ``*bold*``, ``_italic_``, ``~strike~``, ``<url|label>`` and ``&amp;``-style entities).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from adapters.discord_render import FORUM_POST, render_discord
from adapters.slack_render import render_slack
from digestbot.blocks import Message, PaperList

ZWSP = "\u200b"

_CSS = """
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.4 "gg sans", "Noto Sans", "Noto Sans KR", "Helvetica Neue", Arial, sans-serif;
       background: #e9e9ee; color: #1d1c1d; }
h1 { margin: 0; padding: 16px 24px; font-size: 20px; background: #1e1f22; color: #fff; }
h2 { margin: 24px 24px 8px; font-size: 16px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; margin: 0 24px 24px; align-items: start; }
.platform { border-radius: 8px; overflow: hidden; }
.platform > .name { padding: 6px 12px; font-size: 12px; font-weight: 700; letter-spacing: .05em;
                    text-transform: uppercase; }
.discord { background: #313338; color: #dbdee1; }
.discord > .name { background: #1e1f22; color: #b5bac1; }
.slack { background: #fff; color: #1d1c1d; border: 1px solid #ddd; }
.slack > .name { background: #4a154b; color: #fff; }
.post { padding: 12px 16px; border-top: 1px solid rgba(128,128,128,.25); }
.post .who { font-weight: 700; margin-bottom: 4px; }
.discord .who { color: #f2f3f5; }
.badge { font-size: 10px; font-weight: 700; padding: 1px 4px; border-radius: 3px; margin-left: 4px;
         vertical-align: middle; }
.discord .badge { background: #5865f2; color: #fff; }
.slack .badge { background: #e8e8e8; color: #616061; }
.meta { font-size: 11px; color: #949ba4; margin-bottom: 6px; }
.slack .meta { color: #616061; }
.content { white-space: pre-wrap; overflow-wrap: anywhere; margin-bottom: 4px; }
.sub { font-size: 12px; color: #949ba4; }
.embed { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 8px; max-width: 520px;
         margin: 6px 0; padding: 8px 16px 12px 12px; background: #2b2d31; border-radius: 4px;
         border-left: 4px solid #1e1f22; }
.embed .main { min-width: 0; }
.embed .author { font-size: 13px; font-weight: 600; color: #f2f3f5; margin: 4px 0; }
.embed .title { font-weight: 700; margin: 4px 0; overflow-wrap: anywhere; }
.embed .title a, .discord a { color: #00a8fc; text-decoration: none; }
.embed .desc { font-size: 14px; white-space: pre-wrap; overflow-wrap: anywhere; }
.embed .fields { display: grid; gap: 6px; margin-top: 8px; }
.embed .field .fname { font-weight: 700; font-size: 13px; }
.embed .footer { grid-column: 1 / -1; font-size: 12px; color: #b5bac1; margin-top: 6px; }
.embed .thumb { width: 80px; height: 80px; object-fit: cover; border-radius: 4px; background: #1e1f22;
                overflow: hidden; font-size: 10px; }
.embed .image { grid-column: 1 / -1; max-width: 100%; border-radius: 4px; }
.slack .header { font-size: 18px; font-weight: 900; margin: 4px 0 8px; overflow-wrap: anywhere; }
.slack .section { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 12px; margin: 6px 0; }
.slack .mrkdwn { white-space: pre-wrap; overflow-wrap: anywhere; }
.slack a { color: #1264a3; text-decoration: none; }
.slack .acc { width: 88px; height: 88px; object-fit: cover; border-radius: 6px; background: #f0f0f0;
             overflow: hidden; font-size: 10px; }
.slack .context { font-size: 12px; color: #616061; margin: 4px 0; overflow-wrap: anywhere; }
.slack .context span + span::before { content: "  "; white-space: pre; }
.slack hr { border: 0; border-top: 1px solid #ddd; margin: 10px 0; }
.slack .imageblock { max-width: 100%; border-radius: 6px; }
.forum-post { margin: 8px 16px; border: 1px solid rgba(128,128,128,.4); border-radius: 6px; }
.forum-post > .title { padding: 6px 12px; font-weight: 700; }
.tag { display: inline-block; margin: 0 4px 0 0; padding: 0 6px; border-radius: 8px; font-size: 12px;
       background: rgba(128,128,128,.3); }
.note { padding: 12px 16px; font-style: italic; }
.thread { margin: 0 16px 12px 40px; border-left: 2px solid rgba(128,128,128,.4); }
.thread > .replies { padding: 4px 12px; font-size: 12px; font-weight: 700; color: #1264a3; }
.discord .thread > .replies { color: #00a8fc; }
.fallback { font-size: 11px; color: #616061; margin-top: 6px; font-style: italic; overflow-wrap: anywhere; }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _href(url: str) -> str | None:
    """Return ``url`` escaped for an attribute if it is http(s); anything else is not linked."""
    return _e(url) if re.match(r"https?://", url, re.IGNORECASE) else None


# -- Discord ---------------------------------------------------------------------------------------

_DISCORD_TOKEN = re.compile(
    r"\\(?P<esc>[^0-9A-Za-z\s])"
    r"|\[(?P<label>(?:\\.|[^\\\]])*)\]\((?P<url>https?://[^)\s]+)\)"
    r"|(?P<bold>\*\*)"
)


def discord_markdown(text: str) -> str:
    """Return HTML for the Discord markdown the renderer emits (bold, subtext, masked links, escapes)."""
    lines = []
    for line in text.split("\n"):
        small = line.startswith("-# ")
        if small:
            line = line[3:]
        out: list[str] = []
        bold = False
        at = 0
        for m in _DISCORD_TOKEN.finditer(line):
            out.append(_e(line[at : m.start()]))
            if m["esc"]:
                out.append(_e(m["esc"]))
            elif m["url"]:
                href = _href(m["url"])
                label = discord_markdown(m["label"])
                out.append(f'<a href="{href}">{label}</a>' if href else label)
            else:
                out.append("</b>" if bold else "<b>")
                bold = not bold
            at = m.end()
        out.append(_e(line[at:]))
        if bold:
            out.append("</b>")
        html_line = "".join(out)
        lines.append(f'<span class="sub">{html_line}</span>' if small else html_line)
    return "<br>".join(lines)


def _discord_embed(embed: dict[str, Any]) -> str:
    colour = embed.get("color")
    style = f' style="border-left-color:#{colour:06x}"' if isinstance(colour, int) else ""
    main: list[str] = []
    if author := embed.get("author", {}).get("name"):
        main.append(f'<div class="author">{_e(author)}</div>')
    if title := embed.get("title"):
        inner = discord_markdown(title)
        href = _href(embed.get("url", ""))
        linked = f'<a href="{href}">{inner}</a>' if href else inner
        main.append(f'<div class="title">{linked}</div>')
    if desc := embed.get("description"):
        main.append(f'<div class="desc">{discord_markdown(desc)}</div>')
    if fields := embed.get("fields"):
        cells = "".join(
            f'<div class="field"><div class="fname">{discord_markdown(f["name"])}</div>'
            f"<div>{discord_markdown(f['value'])}</div></div>"
            for f in fields
        )
        main.append(f'<div class="fields">{cells}</div>')
    parts = [f'<div class="main">{"".join(main)}</div>']
    if (thumb := embed.get("thumbnail", {}).get("url")) and _href(thumb):
        parts.append(f'<img class="thumb" src="{_e(thumb)}" alt="thumbnail">')
    if (image := embed.get("image", {}).get("url")) and _href(image):
        parts.append(f'<img class="image" src="{_e(image)}" alt="image">')
    if footer := embed.get("footer", {}).get("text"):
        parts.append(f'<div class="footer">{_e(footer)}</div>')
    return f'<div class="embed"{style}>{"".join(parts)}</div>'


def _discord_post(body: dict[str, Any]) -> str:
    out = ['<div class="post"><div class="who">digestbot<span class="badge">APP</span></div>']
    if body.get("flags", 0) & (1 << 12):  # the part number is in the message itself: not repeated here
        out.append('<div class="meta">silent</div>')
    if content := body.get("content"):
        out.append(f'<div class="content">{discord_markdown(content)}</div>')
    out.extend(_discord_embed(e) for e in body.get("embeds", ()))
    out.append("</div>")
    return "".join(out)


# -- Slack -----------------------------------------------------------------------------------------

_SLACK_LINK = re.compile(r"<(?P<url>[^|>]+)\|(?P<label>[^>]*)>")
# A delimiter must touch text on its inner side; the renderer's zero-width spaces prevent that.
_SLACK_STYLE = re.compile(
    r"(?<![\w\u200b])(?P<d>[*_~])(?![\s\u200b])(?P<body>[^\n]*?)(?<![\s\u200b])(?P=d)(?![\w\u200b])"
)
_TAGS = {"*": "b", "_": "i", "~": "s"}


def _slack_entities(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _slack_styles(escaped: str) -> str:
    """Return already HTML-escaped mrkdwn text with its bold/italic/strike spans as tags."""

    def style(m: re.Match[str]) -> str:
        tag = _TAGS[m["d"]]
        return f"<{tag}>{_slack_styles(m['body'])}</{tag}>"

    return _SLACK_STYLE.sub(style, escaped)


def slack_mrkdwn(text: str) -> str:
    """Return HTML for the Slack mrkdwn the renderer emits (bold, italic, strike, links, entities)."""
    # Links first, so styles may wrap them ("*<url|title>*"); placeholders keep them intact.
    links: list[str] = []

    def link(m: re.Match[str]) -> str:
        href = _href(_slack_entities(m["url"]))
        label = _e(_slack_entities(m["label"]))
        links.append(f'<a href="{href}">{label}</a>' if href else label)
        return f"\x00{len(links) - 1}\x00"

    styled = _slack_styles(_e(_slack_entities(_SLACK_LINK.sub(link, text))))
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m[1])], styled).replace("\n", "<br>")


def _slack_text(obj: dict[str, Any]) -> str:
    text = obj.get("text", "")
    return slack_mrkdwn(text) if obj.get("type") == "mrkdwn" else _e(text)


def _slack_block(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "header":
        return f'<div class="header">{_e(block["text"]["text"])}</div>'
    if kind == "section":
        acc = block.get("accessory")
        img = ""
        if acc and acc.get("type") == "image" and _href(acc.get("image_url", "")):
            img = f'<img class="acc" src="{_e(acc["image_url"])}" alt="{_e(acc.get("alt_text", ""))}">'
        return f'<div class="section"><div class="mrkdwn">{_slack_text(block["text"])}</div>{img}</div>'
    if kind == "context":
        spans = "".join(f"<span>{_slack_text(e)}</span>" for e in block.get("elements", ()) if "text" in e)
        return f'<div class="context">{spans}</div>'
    if kind == "divider":
        return "<hr>"
    if kind == "image" and _href(block.get("image_url", "")):
        return f'<img class="imageblock" src="{_e(block["image_url"])}" alt="{_e(block.get("alt_text", ""))}">'
    return ""


def _slack_post(payload: dict[str, Any]) -> str:
    out = ['<div class="post"><div class="who">digestbot<span class="badge">APP</span></div>']
    if channel := payload.get("channel"):  # the part number is in the message itself: not repeated here
        out.append(f'<div class="meta">#{_e(channel)}</div>')
    out.extend(_slack_block(b) for b in payload.get("blocks", ()))
    out.append(f'<div class="fallback">notification text: {_e(_slack_entities(payload.get("text", "")))}</div>')
    out.append("</div>")
    return "".join(out)


# -- page ------------------------------------------------------------------------------------------


def _threaded(posts: list[str], threads: bool) -> str:
    """Return the parts as channel posts, or part 1 with the rest in its thread (as the platform shows them)."""
    if not threads or len(posts) < 2:
        return "".join(posts)
    replies = f"{len(posts) - 1} repl{'y' if len(posts) == 2 else 'ies'} in the thread"
    return f'{posts[0]}<div class="thread"><div class="replies">{replies}</div>{"".join(posts[1:])}</div>'


def _is_list(message: Message) -> bool:
    return any(isinstance(b, PaperList) for b in message.blocks)


def _parts(n: int) -> str:
    return f"{n} part{'' if n == 1 else 's'}"


def _groups(messages: Sequence[Message]) -> list[list[Message]]:
    """Group a compact list with the cards that follow it (its thread replies); every other message alone."""
    groups: list[list[Message]] = []
    for message in messages:
        if message.kind == "card" and groups and any(isinstance(b, PaperList) for b in groups[-1][0].blocks):
            groups[-1].append(message)
        else:
            groups.append([message])
    return groups


def _compact_section(group: list[Message]) -> str:
    """Draw a compact digest: the list in the channel, each card a reply in its thread (both platforms)."""
    head, cards = group[0], group[1:]
    discord = [_discord_post(b) for m in group for b in render_discord(m)]
    slack = [_slack_post(p) for m in group for p in render_slack(m)]
    heading = f"Compact digest · {head.key} — the list, and {len(cards)} cards in its thread"
    return (
        f"<h2>{_e(heading)}</h2>"
        '<div class="pair">'
        f'<div class="platform discord"><div class="name">Discord</div>{_threaded(discord, True)}</div>'
        f'<div class="platform slack"><div class="name">Slack</div>{_threaded(slack, True)}</div>'
        "</div>"
    )


def _forum_section(posts: list[Message]) -> str:
    """Draw a forum digest: one post per paper, named, with its tags; Slack has no forums."""
    drawn = []
    for message in posts:
        body = render_discord(message)[0]
        spec = body.get(FORUM_POST, {})
        tags = "".join(f'<span class="tag">{_e(t)}</span>' for t in spec.get("tags", ()))
        drawn.append(
            f'<div class="forum-post"><div class="title">{_e(spec.get("name", ""))}</div>'
            f'<div class="post">{tags}</div>{_discord_post(body)}</div>'
        )
    key = posts[0].key if posts else ""
    return (
        f"<h2>{_e(f'Forum digest · {key} — {len(posts)} posts, one per paper')}</h2>"
        '<div class="pair">'
        f'<div class="platform discord"><div class="name">Discord forum</div>{"".join(drawn)}</div>'
        '<div class="platform slack"><div class="name">Slack</div>'
        '<div class="note">Slack has no forum channels: a Slack channel uses the compact layout.</div></div>'
        "</div>"
    )


def render_html(
    messages: Sequence[Message], *, title: str, slack_threads: bool = True, discord_threads: bool = False
) -> str:
    """Return one self-contained HTML page previewing each message's Discord and Slack payloads side by side.

    Later parts of a digest are drawn in a thread under the first when that platform's ``threads``
    setting is on (Slack's default), as the channel will show them. A compact digest (a list and its
    cards) is drawn as the list with the cards in its thread; forum posts as one post per paper.
    """
    sections = []
    forum = [m for m in messages if m.post is not None]
    if forum:
        sections.append(_forum_section(forum))
    compact = [g for g in _groups([m for m in messages if m.post is None]) if len(g) > 1 or _is_list(g[0])]
    for group in compact:
        sections.append(_compact_section(group))
    done = {id(m) for g in compact for m in g} | {id(m) for m in forum}
    for number, message in enumerate((m for m in messages if id(m) not in done), start=1):
        bodies = render_discord(message)
        payloads = render_slack(message)
        heading = f"Message {number}: {message.kind}" + (f" · {message.key}" if message.key else "")
        heading += f" — Discord {_parts(len(bodies))}, Slack {_parts(len(payloads))}"
        threads = message.kind == "digest"  # only digests are threaded; DMs and notices are one message
        discord = _threaded([_discord_post(b) for b in bodies], threads and discord_threads)
        slack = _threaded([_slack_post(p) for p in payloads], threads and slack_threads)
        sections.append(
            f"<h2>{_e(heading)}</h2>"
            '<div class="pair">'
            f'<div class="platform discord"><div class="name">Discord</div>{discord}</div>'
            f'<div class="platform slack"><div class="name">Slack</div>{slack}</div>'
            "</div>"
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{_e(title)}</h1>{''.join(sections)}</body></html>\n"
    )
