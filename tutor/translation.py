"""Authored content machine-translated on request, labelled as such; the original stays canonical
and one click away. Translations are cached per published version, step and language."""

from __future__ import annotations

import hashlib

import openai
from django.conf import settings
from django.core.cache import cache

from tutor import model_client
from tutor.prompting import LANGUAGE_NAMES

PROMPT = (
    "Translate this course text from English into {language}. Keep the Markdown, code blocks, "
    "inline code and math ($...$) exactly as they are; translate only the prose. Reply with the "
    "translation only."
)


def translate(text: str, language: str, *, timeout: float = 30.0) -> str | None:
    """The text in `language` (a code such as "fr"), or None when no model can translate now."""
    language = language.split("-")[0].lower()
    if not text.strip() or language in ("", "en"):
        return text
    key = "translation:" + hashlib.sha256(f"{language}\n{text}".encode()).hexdigest()
    cached = cache.get(key)
    if isinstance(cached, str):
        return cached
    try:
        client = model_client.get_client(timeout=timeout, max_retries=1)
        model = model_client.chat_model_name(client)
        reply = client.chat.completions.create(
            model=model,
            messages=[
                {
                    "role": "system",
                    "content": PROMPT.format(language=LANGUAGE_NAMES.get(language, language)),
                },
                {"role": "user", "content": text},
            ],
            max_tokens=max(settings.EUREKA_TA_MAX_TOKENS, len(text) // 2),
            temperature=0.0,
        )
    except (openai.OpenAIError, model_client.ModelUnavailable):
        return None
    translated = (reply.choices[0].message.content or "").strip() if reply.choices else ""
    if not translated:
        return None
    cache.set(key, translated, 7 * 24 * 3600)
    return translated
