"""The Markdown sanitiser, fuzzed (hypothesis): whatever mix of Markdown and HTML fragments a
student or an author writes, the HTML that reaches a page has no script, no style, no event
handler and no link or image to a javascript:, vbscript: or data: URL."""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courses.rendering import ALLOWED_TAGS, clean, render_text
from tests.courses.test_rendering import elements

PIECES = [
    "<script>", "</script>", "<script src=//evil.example/x.js>", "<SCRIPT>", "<scr", "ipt>",
    "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>", "<svg><script>", "<math>",
    "<iframe src=//evil.example>", "<object data=x>", "<embed src=x>", "<style>", "</style>",
    "<a href=", "<a href='", '<a href="', "<img src=", "<div style=", " style=", " onclick=",
    " onmouseover=", "onerror", "=", '"', "'", "<", ">", "/>", "</", "<!--", "-->", "<![CDATA[",
    "]]>", "&#", "&#x", ";", "&lt;", "&gt;", "&quot;", "javascript:", "JaVaScRiPt:",
    "java\tscript:", "java\nscript:", "&#106;avascript:", "&#x6A;avascript:", "\x00", "\x01",
    "vbscript:", "data:text/html,", "data:image/svg+xml,", "alert(1)", "%6A%61vascript:",
    "[", "](", ")", "![", "]: ", "<http://x>", "<javascript:alert(1)>", "`", "```", "```html\n",
    "\n", "\n\n", "    ", "$", "$$", "*", "_", "#", "> ", "- ", "| a |", "|---|", "\\",
    "https://example.org", "mailto:a@b.c", "x", " ", "\u200b", "\ufeff",
]  # fmt: skip

source = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), min_size=1, max_size=24
).map("".join)

BAD_SCHEMES = ("javascript:", "vbscript:", "data:")
fuzz = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_inert(html: str) -> None:
    assert "<script" not in html.lower() and "<style" not in html.lower()
    parsed = elements(html)
    assert set(parsed.tags) <= ALLOWED_TAGS, set(parsed.tags) - ALLOWED_TAGS
    for tag, name, value in parsed.attributes:
        assert not name.startswith("on"), (tag, name, value)
        assert name != "style", (tag, value)
        if name in {"href", "src"}:
            # As a browser reads a URL: control characters and whitespace dropped, any case.
            url = re.sub(r"[\x00-\x20\x7f]+", "", value).lower()
            assert not url.startswith(BAD_SCHEMES), (tag, name, value)


@fuzz
@given(source)
def test_markdown_from_anyone_renders_inert(text):
    assert_inert(render_text(text))


@fuzz
@given(source)
def test_raw_html_is_cleaned_inert(text):
    assert_inert(clean(text))


@fuzz
@given(source)
def test_cleaning_is_stable(text):
    """Cleaning what was already cleaned changes nothing: no second pass would find more."""
    once = clean(render_text(text))
    assert clean(once) == once
