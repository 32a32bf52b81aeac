"""A reply rendered while it streams (`render_partial`, its finished blocks remembered) is the
HTML the whole render gives, at every point of the stream."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courses import rendering
from courses.rendering import render_partial, render_text

REPLY = """Counting comes first: a probability is a count over a total.

- pick a pair of characters
- count it

1. first
2. second

```python
counts = {}

for c in text:
    counts[c] = counts.get(c, 0) + 1
```

$$
p = \\frac{n}{N}

q
$$

> a quote

    indented code

    more of it

| a | b |
|---|---|
| 1 | 2 |

# Done
That is all."""

LINES = [
    "Some words here.", "", "", "   ", "- item one", "* star item", "1. first", "2) second",
    "  indented continuation", "    code indented", "```python", "```", "~~~", "````", "x = 1",
    "# Heading", "Heading", "===", "---", "> quote", ">", "| a | b |", "|---|---|", "$$",
    "$$x^2$$", "$$ a", "b $$", "text with $inline$ math", "`code` span", "```inline``` code",
    "**bold** _em_", "\t tabbed", "+ plus", "<div>html</div>", "10. ten", "-", "a\u2028b",
    "  - nested", "  ```", "     ```", "text\rmore",
]  # fmt: skip


def test_every_point_of_a_streamed_reply_renders_as_the_whole_render_does():
    rendering._render_block.cache_clear()
    for end in range(len(REPLY) + 1):
        assert render_partial(REPLY[:end]) == render_text(REPLY[:end]), REPLY[:end]
    # The reply was cut into blocks, each finished one rendered once, not again at each of the
    # stream's 500-odd points (a line's first characters may end a block for a moment: "1"
    # before "1." arrives, so a few more than the final blocks).
    blocks = rendering._blocks(REPLY)
    assert len(blocks) == 6 and "".join(blocks) == REPLY
    assert len(blocks) - 1 <= rendering._render_block.cache_info().misses <= 2 * len(blocks)


def test_a_block_is_not_cut_inside_a_fence_a_math_block_a_list_or_indented_code():
    blocks = rendering._blocks(REPLY)
    assert any(b.startswith("```python") and b.rstrip().endswith("```") for b in blocks)
    assert any(b.startswith("$$") and "q\n$$" in b for b in blocks)
    assert any("- count it" in b and "2. second" in b for b in blocks)  # a list item follows
    assert any("    indented code" in b and "more of it" in b for b in blocks)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(LINES), max_size=16))
def test_any_mix_of_blocks_renders_in_pieces_as_it_does_whole(lines):
    text = "\n".join(lines)
    assert "".join(rendering._blocks(text)) == text
    for end in range(0, len(text) + 1, 3):
        assert render_partial(text[:end]) == render_text(text[:end])


def test_a_reply_being_written_is_rendered_in_pieces_and_the_complete_reply_whole():
    from tutor import ta

    # The one difference the pieces make: a link whose definition is in another block.
    text = "See [the notes][n].\n\n[n]: https://example.org/notes\n"
    writing = ta.reply_event(id=1, role="assistant", text=text, complete=False, seq=1)
    complete = ta.reply_event(id=1, role="assistant", text=text, complete=True, seq=2)
    assert writing["message"]["html"] == render_partial(text)
    assert "<a" not in writing["message"]["html"]
    assert complete["message"]["html"] == render_text(text)
    assert 'href="https://example.org/notes"' in complete["message"]["html"]
