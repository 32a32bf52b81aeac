from django import template
from django.utils.safestring import SafeString, mark_safe

from courses.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str | None) -> SafeString:
    """Markdown to sanitised HTML (see courses.rendering): safe to mark safe."""
    return mark_safe(render_markdown(text or ""))  # noqa: S308 - cleaned by nh3
