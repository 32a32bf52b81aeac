"""Hostile Markdown never reaches a page as markup."""

from html.parser import HTMLParser

import pytest

from courses.rendering import clean, render_markdown

HOSTILE = [
    "<script>alert(1)</script>",
    "<iframe src='https://evil.example'></iframe>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "![x](javascript:alert(1))",
    "<a href='javascript:alert(1)'>x</a>",
    "<svg onload=alert(1)>",
    "<div style='background:url(javascript:alert(1))'>x</div>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "$<img src=x onerror=alert(1)>$",
    "```html\n<script>alert(1)</script>\n```",
    "<<script>script>alert(1)<</script>/script>",
]


class _Elements(HTMLParser):
    """Every element and attribute a browser would build from the HTML."""

    def __init__(self):
        super().__init__()
        self.tags, self.attributes = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]


def elements(html):
    parser = _Elements()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_renders_without_active_content(source):
    parsed = elements(render_markdown(source))
    assert not {"script", "iframe", "svg", "style", "object", "embed"} & set(parsed.tags)
    for tag, name, value in parsed.attributes:
        assert not name.startswith("on"), (tag, name)
        assert name != "style"
        if name in {"href", "src"}:
            assert (
                value.split(":")[0].strip().lower() in {"http", "https", "mailto"}
                or ":" not in value
            )


def test_event_handlers_and_scripts_are_stripped_from_raw_html():
    html = clean('<p onclick="x()">hi</p><script>x()</script><a href="javascript:x()">l</a>')
    assert html == '<p>hi</p><a rel="noopener noreferrer nofollow">l</a>'


def test_markdown_features_survive_cleaning():
    html = render_markdown(
        "# Title\n\nSome *em* and `code` and [a link](https://example.org).\n\n"
        "```python\nprint('hi')\n```\n\n$x^2$ and\n\n$$\\frac{a}{b}$$\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert "<h1>Title</h1>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">a link</a>' in html
    assert (
        '<pre class="highlight"><code class="language-python"><span class="nb">print</span>' in html
    )
    assert '<span class="math inline">x^2</span>' in html
    assert '<div class="math block">\n\\frac{a}{b}\n</div>' in html
    assert "<table>" in html


def test_tex_is_escaped_text_not_markup():
    html = render_markdown("$a<b$")
    assert "a&lt;b" in html
