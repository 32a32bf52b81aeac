"""Markdown to safe HTML, for authored content and for anything a student wrote.

Markdown (CommonMark plus tables) with $inline$ and $$display$$ math (typeset in the browser by
KaTeX from the elements marked `math`), code highlighted by Pygments, and the result cleaned by
nh3 against an allow-list: no script, iframe, style, event handler or javascript: URL reaches a
page, whatever the source says.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub",
    "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "pre": {"class"},
    "span": {"class"},
    "div": {"class"},
    "th": {"align"},
    "td": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_FORMATTER = HtmlFormatter(nowrap=True)


def _highlight(code: str, language: str, attrs: str) -> str:
    try:
        lexer = get_lexer_by_name(language or "text")
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    body = highlight(code, lexer, _FORMATTER)
    css = f' class="language-{html.escape(language)}"' if language else ""
    return f'<pre class="highlight"><code{css}>{body}</code></pre>\n'


def _math(content: str, options: dict[str, bool]) -> str:
    # The plugin wraps this in <span class="math inline"> or <div class="math block">; the TeX
    # stays text there and KaTeX typesets it in the browser (static/js/eureka.js).
    return html.escape(content)


def _parser() -> MarkdownIt:
    # html=False: raw HTML in the source is shown as text, never passed through.
    md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight}).enable("table")
    md.use(dollarmath_plugin, renderer=_math, allow_digits=False, double_inline=True)
    return md


_MD = _parser()


def clean(html_text: str) -> str:
    """The allow-list cleaner, for HTML from any source."""
    return nh3.clean(
        html_text,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


@lru_cache(maxsize=2048)
def render_markdown(text: str) -> str:
    """Safe HTML for Markdown text. Cached: the same step body is rendered for every student."""
    return render_text(text)


def render_text(text: str) -> str:
    """Safe HTML for Markdown text that is seen once (a reply while it streams): not cached."""
    return clean(_MD.render(text))


def render_partial(text: str) -> str:
    """Safe HTML for a reply that is still being written, rendered as `render_text` renders
    it: each finished block is rendered once and remembered, so the reply sent again at every
    flush costs its newest block, not the whole reply each time. A block is finished at a blank
    line that no code fence or math block is open across and that no indented line or list item
    continues. (Only a link whose definition is in another block renders differently, as text,
    until the complete reply is rendered whole.)"""
    *finished, last = _blocks(text)
    return "".join(_render_block(block) for block in finished) + render_text(last)


@lru_cache(maxsize=1024)
def _render_block(block: str) -> str:
    return render_text(block)


_CONTINUES = re.compile(r"[ \t]|[-*+](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$)")
_FENCE = re.compile(r"([ \t]*)(`{3,}|~{3,})")

_Open = tuple[str, bool]  # (the open code fence's marker or "", whether a math block is open)


def _blocks(text: str) -> list[str]:
    """`text` cut into pieces that render on their own as they do together (joined, they are
    `text`); the last piece may still grow. Where a line may or may not open or close a code
    fence or a math block (it depends on the block around it), both readings are followed, and
    the text is cut only where every reading has nothing open."""
    if "\r" in text:
        return [text]  # Markdown's other line ends: rare enough to render whole
    blocks: list[str] = []
    start = offset = 0
    readings: set[_Open] = {("", False)}
    after_blank = True
    for line in text.split("\n"):
        stripped = line.strip(" \t")
        if (
            offset
            and after_blank
            and stripped
            and not _CONTINUES.match(line)
            and readings == {("", False)}
        ):
            blocks.append(text[start:offset])
            start = offset
        if "`" in line or "~" in line or "$$" in line:  # no other line opens or closes one
            readings = {after for now in readings for after in _next(now, line, after_blank)}
        after_blank = not stripped
        offset += len(line) + 1
    blocks.append(text[start:])
    return blocks


def _next(now: _Open, line: str, after_blank: bool) -> set[_Open]:
    """What may be open after `line`, given what was open before it."""
    fence, in_math = now
    stripped = line.strip(" \t")
    indent = len(line) - len(line.lstrip(" \t"))
    sure = indent < 4 and "\t" not in line[:indent]  # not indented code, not a list's content
    if fence:
        if len(stripped) >= len(fence) and stripped == fence[0] * len(stripped):
            return {("", False)} if sure else {("", False), now}
        return {now}
    if in_math:
        return {("", False)} if stripped.endswith("$$") else {now}
    opened = _FENCE.match(line)
    if opened and not (opened.group(2)[0] == "`" and "`" in line[opened.end() :]):
        return {(opened.group(2), False)} if sure else {(opened.group(2), False), now}
    if stripped.startswith("$$") and not stripped[2:].rstrip(" \t").endswith("$$"):
        # A math block starts a block: after a paragraph's line it is that paragraph's text.
        return {("", True)} if sure and after_blank else {("", True), now}
    return {now}


def pygments_css() -> str:
    return str(_FORMATTER.get_style_defs(".highlight"))
