"""Markdown to safe HTML, for authored content and for anything a student wrote.

Markdown (CommonMark plus tables) with $inline$ and $$display$$ math (typeset in the browser by
KaTeX from the elements marked `math`), code highlighted by Pygments, and the result cleaned by
nh3 against an allow-list: no script, iframe, style, event handler or javascript: URL reaches a
page, whatever the source says.
"""

from __future__ import annotations

import html
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


def pygments_css() -> str:
    return str(_FORMATTER.get_style_defs(".highlight"))
