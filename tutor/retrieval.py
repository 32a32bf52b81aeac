"""Retrieval over published course content, for the TA: chunking, indexing and hybrid search.

A published version is cut into passages (`chunk_version`): each step's Markdown body by heading,
long sections further on block boundaries, plus each exercise's prompt. `index_version` stores
them as `CourseChunk` rows and embeds them through the model worker; `search` ranks a version's
passages for a question by pgvector cosine distance and by PostgreSQL full text, and fuses the
two rankings with reciprocal rank fusion.

Contracts:
- Nothing that gives an exercise away is ever chunked: no solution, answer, accepted answer,
  option (correct or not), rubric or hint, and no probe (placement items are asked cold). Only
  the step body and the exercise prompts, which every student who may open the step sees anyway.
- `search` filters to the steps the student may see inside the SQL of both rankings, before
  anything is ranked, so a passage of a locked step can never come back, whatever the query.
- The model worker is optional: without it chunks are stored unembedded (and their embedding is
  retried by the task), and search ranks by full text alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
from collections.abc import Hashable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import openai
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin
from openai.types import CreateEmbeddingResponse

from courses.models import Course, CourseVersion
from courses.spec import CourseSpec
from tutor import model_client
from tutor.model_client import ModelUnavailable
from tutor.models import EMBEDDING_DIMENSIONS, CourseChunk

log = logging.getLogger(__name__)

# A passage is at most this long (characters) unless one word is longer. About 250-300 word
# pieces: what all-MiniLM-L6-v2 reads before it truncates (256), and a size a prompt can quote.
MAX_CHUNK_CHARS = 1200
# Texts per /v1/embeddings request while indexing.
EMBED_BATCH = 32
# Reciprocal rank fusion constant (Cormack, Clarke and Buettcher, SIGIR 2009): a passage scores
# sum(1 / (RRF_K + rank)) over the rankings it appears in, rank counted from 1. 60 is the
# paper's value; it damps the head of each ranking so that agreement between the two rankings
# outweighs a single first place.
RRF_K = 60
# Candidates each ranking contributes to the fusion, at least.
MIN_CANDIDATES = 20
# HNSW filters after the index scan (pgvector before 0.8): of the ef_search nearest chunks of the
# whole table only those of this version and these steps survive. A wider scan keeps enough.
HNSW_EF_SEARCH = 400
# A TA turn waits on the query's embedding: give up quickly and rank by full text instead.
QUERY_EMBED_TIMEOUT = 3.0
# Longer questions are cut: the embedding model reads about 256 word pieces anyway.
MAX_QUERY_CHARS = 2000
# Cosine distance under which a passage counts as about the query (all-MiniLM-L6-v2: similarity
# 0.4 and above is on the topic; unrelated English sentences sit around 0.0-0.2).
RELEVANT_DISTANCE = 0.6
# Chunks of an exercise prompt have this section, followed by the exercise's slug.
EXERCISE_SECTION = "Exercise: "
# Content words of a question the loose full-text match looks at, at most.
MAX_LOOSE_TERMS = 12
# English function words left out of the loose full-text match (see `_text_ranking`).
_STOP_WORDS = frozenset(
    """a about after all also am an and any are as at be been being but by can could did do
    does doing done for from get gets got had has have having he her here hers him his how i if
    in into is it its just me might more most must my no not now of off on once only or our out
    over please she should so some such than that the their them then there these they this
    those through to too under until up very was we were what when where which while who whom
    why will with would you your""".split()  # noqa: SIM905 (a word list reads better as prose)
)

_T = TypeVar("_T", bound=Hashable)


@dataclass(frozen=True)
class ChunkText:
    """One passage of a published version, before it is stored."""

    step_slug: str
    step_title: str
    section: str
    position: int
    text: str


@dataclass(frozen=True)
class IndexResult:
    version_id: int
    chunks: int  # passages stored for the version
    embedded: int  # of which carry an embedding
    replaced: bool  # whether this run rewrote the stored passages


@dataclass(frozen=True)
class Passage:
    """A search hit, with what a citation needs."""

    chunk_id: int
    step_slug: str
    step_title: str
    section: str
    text: str
    score: float  # the fused RRF score: higher is better
    url: str  # the step page (at the exercise, for an exercise prompt)
    # Evidence that the passage is about the query, not merely the least far: it matched the
    # full-text search, or its embedding lies within RELEVANT_DISTANCE of the query's.
    relevant: bool = True


# ---------------------------------------------------------------------------------------------
# Chunking


def _parser() -> MarkdownIt:
    # The same block grammar the step page renders with (courses.rendering), so a heading or a
    # block here is one there; in particular `# comment` inside a code fence is not a heading.
    md = MarkdownIt("commonmark").enable("table")
    md.use(dollarmath_plugin, allow_digits=False, double_inline=True)
    return md


_MD = _parser()


def _sections(markdown: str) -> list[tuple[str, list[str]]]:
    """(heading, blocks) in order; the text before the first heading has the heading "". Each
    block is a top-level Markdown block's source (paragraph, list, fence, table, math), and a
    section's blocks start with its heading line."""
    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    tokens = _MD.parse("\n".join(lines))
    sections: list[tuple[str, list[str]]] = [("", [])]
    for i, token in enumerate(tokens):
        if token.level != 0 or token.map is None or token.nesting < 0 or token.type == "hr":
            continue
        start, end = token.map
        block = "\n".join(lines[start:end]).strip()
        if token.type == "heading_open":
            heading = tokens[i + 1].content.strip() if i + 1 < len(tokens) else ""
            sections.append((heading, [block]))
        elif block:
            sections[-1][1].append(block)
    return sections


def _pack(pieces: Iterable[str], separator: str, limit: int) -> list[str]:
    """Consecutive pieces joined while the join stays within limit (a longer piece stays whole)."""
    packed: list[str] = []
    current = ""
    for piece in pieces:
        joined = f"{current}{separator}{piece}" if current else piece
        if current and len(joined) > limit:
            packed.append(current)
            current = piece
        else:
            current = joined
    if current:
        packed.append(current)
    return packed


# Ever finer cuts for a block that is too long on its own: lines, sentences, words.
_CUTS = ((re.compile(r"\n"), "\n"), (re.compile(r"(?<=[.!?])\s+"), " "), (re.compile(r"\s+"), " "))


def _fit(text: str, limit: int, level: int = 0) -> list[str]:
    """Pieces of text of at most limit characters, cut at the coarsest boundary that works."""
    if len(text) <= limit:
        return [text]
    for pattern, separator in _CUTS[level:]:
        level += 1
        parts = [p for p in pattern.split(text) if p.strip()]
        if len(parts) > 1:
            pieces = [piece for part in parts for piece in _fit(part, limit, level)]
            return _pack(pieces, separator, limit)
    return [text[i : i + limit] for i in range(0, len(text), limit)]


def _passages(blocks: list[str], limit: int = MAX_CHUNK_CHARS) -> list[str]:
    return _pack((piece for block in blocks for piece in _fit(block, limit)), "\n\n", limit)


def chunk_version(spec: CourseSpec) -> list[ChunkText]:
    """The passages of a course version, in ramp order: per step, its body by section (a section
    made of a heading alone is skipped), then one passage per exercise prompt (more if long).

    Deliberately absent (see the module's contract): solutions, answers, accepted answers,
    options, rubrics, hints and probes."""
    chunks: list[ChunkText] = []

    def add(step_slug: str, step_title: str, section: str, text: str) -> None:
        chunks.append(ChunkText(step_slug, step_title[:200], section[:200], len(chunks), text))

    for step in spec.steps():
        for heading, blocks in _sections(step.body):
            if heading and len(blocks) < 2:
                continue
            for text in _passages(blocks):
                add(step.slug, step.title, heading, text)
        for exercise in step.exercises:
            blocks = [block for _, found in _sections(exercise.prompt) for block in found]
            for text in _passages(blocks):
                add(step.slug, step.title, EXERCISE_SECTION + exercise.slug, text)
    return chunks


def _fingerprint(rows: Iterable[tuple[str, str, str, int, str]]) -> str:
    """The dedupe key of a version's passages (with the version id): same texts, same key."""
    return hashlib.sha256(json.dumps(list(rows), ensure_ascii=False).encode()).hexdigest()


def _embedding_input(step_title: str, section: str, text: str) -> str:
    # The step's title (and section) give a short passage, such as an exercise prompt, its topic.
    return f"{step_title}\n{section}\n\n{text}" if section else f"{step_title}\n\n{text}"


# ---------------------------------------------------------------------------------------------
# Indexing


def index_version(version_id: int) -> IndexResult:
    """Store the version's passages and embed the ones without an embedding.

    Idempotent; the dedupe key is the version id plus a hash of the passages: when the stored
    passages already hash the same, they are kept as they are (same rows, same embeddings) and
    only missing embeddings are filled; otherwise they are replaced, under a lock on the version
    row so that two runs at once replace them once. Embeddings are written per batch as they
    arrive, so a run cut short keeps what it got.

    Raises ModelUnavailable when the model worker cannot embed; the passages are stored (and
    committed) before that, so full-text search already finds them and the caller may retry.
    A version that no longer exists is nothing to do."""
    with transaction.atomic():
        version = CourseVersion.objects.select_for_update().filter(pk=version_id).first()
        if version is None:
            return IndexResult(version_id, 0, 0, False)
        chunks = chunk_version(CourseSpec.from_json(version.spec))
        wanted = [(c.step_slug, c.step_title, c.section, c.position, c.text) for c in chunks]
        stored = CourseChunk.objects.filter(course_version=version).order_by("position")
        have = stored.values_list("step_slug", "step_title", "section", "position", "text")
        replaced = _fingerprint(have) != _fingerprint(wanted)
        if replaced:
            stored.delete()
            CourseChunk.objects.bulk_create(
                CourseChunk(
                    course_id=version.course_id,
                    course_version=version,
                    step_slug=c.step_slug,
                    step_title=c.step_title,
                    section=c.section,
                    position=c.position,
                    text=c.text,
                )
                for c in chunks
            )

    pending = list(
        CourseChunk.objects.filter(course_version_id=version_id, embedding__isnull=True)
        .order_by("position")
        .values_list("pk", "step_title", "section", "text")
    )
    embedded = len(chunks) - len(pending)
    for start in range(0, len(pending), EMBED_BATCH):
        batch = pending[start : start + EMBED_BATCH]
        try:
            vectors = checked_vectors(
                model_client.embed([_embedding_input(*row[1:]) for row in batch])
            )
        except ModelUnavailable as error:
            left = len(pending) - start
            log.warning(
                "version %s: %d of %d passages left without embeddings: %s",
                version_id,
                left,
                len(chunks),
                error,
            )
            raise
        if len(vectors) != len(batch):
            raise ModelUnavailable(f"{len(vectors)} embeddings came back for {len(batch)} texts")
        with transaction.atomic():
            for (pk, *_), vector in zip(batch, vectors, strict=True):
                # Only rows still unembedded: a concurrent run's vectors are the same anyway.
                CourseChunk.objects.filter(pk=pk, embedding__isnull=True).update(embedding=vector)
        embedded += len(batch)
    return IndexResult(version_id, len(chunks), embedded, replaced)


def checked_vectors(vectors: list[list[float]]) -> list[list[float]]:
    # A server with another embedding model is a misconfiguration the TA must survive: it is
    # treated as no embeddings at all (full text still works), not as a crash.
    for vector in vectors:
        if len(vector) != EMBEDDING_DIMENSIONS:
            raise ModelUnavailable(
                f"the embedding model returned {len(vector)} dimensions, not "
                f"{EMBEDDING_DIMENSIONS} (EUREKA_EMBEDDING_MODEL={settings.EUREKA_EMBEDDING_MODEL})"
            )
    return vectors


def versions_needing_index() -> list[int]:
    """The latest version of each published course whose passages are missing or not all
    embedded: what a periodic sweep re-indexes after the task's own retries ran out."""
    from courses.selectors import latest_version

    ids = []
    for course in Course.objects.published():
        version = latest_version(course)
        if version is None:
            continue
        chunks = CourseChunk.objects.filter(course_version=version)
        if not chunks.exists() or chunks.filter(embedding__isnull=True).exists():
            ids.append(version.pk)
    return ids


# ---------------------------------------------------------------------------------------------
# Search


def reciprocal_rank_fusion(
    rankings: Iterable[Sequence[_T]], *, k: int = RRF_K
) -> list[tuple[_T, float]]:
    """Items of all rankings with their fused score, best first.

    score(item) = sum over the rankings that contain it of 1 / (k + rank), rank from 1; a repeat
    within one ranking counts once. Ties go to the item with the better single rank, then to
    the item seen first (earlier rankings first)."""
    scores: dict[_T, float] = {}
    best: dict[_T, int] = {}
    for ranking in rankings:
        seen: set[_T] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            best[item] = min(best.get(item, rank), rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], best[pair[0]]))


_EMBEDDER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="query-embedding")
# Query embeddings started and not finished yet, at most: a socket starts one as a message
# arrives, before the message is accepted, and a flood of messages must not become a flood of
# calls to the model worker. Past the bound the turn embeds its query itself, in `search`.
MAX_PENDING_EMBEDDINGS = 32
_pending = threading.BoundedSemaphore(MAX_PENDING_EMBEDDINGS)
_embedding_tasks: set[asyncio.Task[None]] = set()


def prefetch_query_embedding(query: str) -> Future[list[float]] | None:
    """Start embedding the query in the background (a call to the model worker), so that the
    caller's database work overlaps it; pass the future to `search`. None when
    MAX_PENDING_EMBEDDINGS are under way already.

    Called on an event loop (the chat socket), the request goes out from that loop at its next
    turn: a thread of its own would first have to win the interpreter from the threads storing
    the message, which cost a student 15-20 ms. Elsewhere it runs on a thread."""
    if not _pending.acquire(blocking=False):
        return None
    query = query.strip()[:MAX_QUERY_CHARS]
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        future = _EMBEDDER.submit(_embed_query, query)
    else:
        future = _embed_on_loop(loop, query)
    future.add_done_callback(lambda _: _pending.release())
    return future


def _embed_on_loop(loop: asyncio.AbstractEventLoop, query: str) -> Future[list[float]]:
    """A future, for any thread to wait on, of the query's embedding requested from `loop`.
    Cancelling the future cancels the request."""
    future: Future[list[float]] = Future()

    async def embed() -> None:
        try:
            vector = await _embed_query_async(query)
        except Exception as error:
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(vector)
        finally:
            if not future.done():  # cancelled with its loop
                future.set_exception(ModelUnavailable("the query's embedding was cancelled"))

    task = loop.create_task(embed())
    _embedding_tasks.add(task)
    task.add_done_callback(_embedding_tasks.discard)
    future.add_done_callback(lambda f: f.cancelled() and loop.call_soon_threadsafe(task.cancel))
    return future


def search(
    *,
    version: CourseVersion,
    allowed_steps: set[str],
    query: str,
    k: int = 4,
    embedding: Future[list[float]] | None = None,
    embedded: bool | None = None,
) -> list[Passage]:
    """The k passages of the version, among the allowed steps, that best answer the query.

    Hybrid: the chunks nearest to the query's embedding (cosine, HNSW) and the best full-text
    matches, fused by reciprocal rank fusion. When the query cannot be embedded (no model worker)
    or the version has no embeddings yet, the full-text ranking is used alone. `embedding` is
    the query's embedding already under way (`prefetch_query_embedding`); `embedded`, whether
    the version has embedded passages, where the caller knows (None: look)."""
    query = query.strip()[:MAX_QUERY_CHARS]
    if not query or not allowed_steps or k <= 0:
        return []
    # The access filter: part of the WHERE clause of every statement below.
    scope = _Scope(version.pk, sorted(allowed_steps))
    pool = max(MIN_CANDIDATES, 5 * k)
    # Full text first: the vector ranking may wait for the query's embedding.
    by_text = _text_ranking(scope, query, pool)
    nearest = []
    if embedded is not False:
        nearest = _vector_ranking(scope, query, pool, embedding, look=embedded is None)
    close = {row.pk for row, distance in nearest if distance <= RELEVANT_DISTANCE}
    chunks = {row.pk: row for row, _ in nearest}
    fused = reciprocal_rank_fusion([list(chunks), by_text])[:k]
    missing = [pk for pk, _ in fused if pk not in chunks]
    if missing:
        chunks |= CourseChunk.objects.filter(
            course_version_id=scope.version_id, pk__in=missing
        ).in_bulk()
    matched = close | set(by_text)
    course_slug = version.course.slug
    passages = []
    for pk, score in fused:
        chunk = chunks[pk]
        url = reverse("step_page", kwargs={"slug": course_slug, "step": chunk.step_slug})
        if chunk.section.startswith(EXERCISE_SECTION):
            url += "#ex-" + chunk.section.removeprefix(EXERCISE_SECTION)
        passages.append(
            Passage(
                chunk_id=pk,
                step_slug=chunk.step_slug,
                step_title=chunk.step_title,
                section=chunk.section,
                text=chunk.text,
                score=score,
                url=url,
                relevant=pk in matched,
            )
        )
    return passages


def _embed_query(query: str) -> list[float]:
    """The query's embedding; raises ModelUnavailable. One try with a short timeout (not
    `model_client.embed`'s retry): a student waits, and full text is a fine answer meanwhile."""
    client = model_client.get_client(timeout=QUERY_EMBED_TIMEOUT, max_retries=0)
    try:
        reply = client.embeddings.create(model=settings.EUREKA_EMBEDDING_MODEL, input=[query])
    except openai.OpenAIError as error:
        raise ModelUnavailable(str(error)) from error
    return _query_vector(reply)


async def _embed_query_async(query: str) -> list[float]:
    """`_embed_query` on the running loop's client."""
    client = model_client.shared_async_client()
    try:
        reply = await client.embeddings.create(
            model=settings.EUREKA_EMBEDDING_MODEL, input=[query], timeout=QUERY_EMBED_TIMEOUT
        )
    except openai.OpenAIError as error:
        raise ModelUnavailable(str(error)) from error
    return _query_vector(reply)


def _query_vector(reply: CreateEmbeddingResponse) -> list[float]:
    if len(reply.data) != 1:
        raise ModelUnavailable(f"{len(reply.data)} embeddings came back for one query")
    return checked_vectors([reply.data[0].embedding])[0]


@dataclass(frozen=True)
class _Scope:
    """The chunks a search may return: one version's, of the steps the student may open."""

    version_id: int
    steps: list[str]


# The rankings are written in SQL: a TA turn waits on them, and building the equivalent
# querysets (full-text expressions, a CASE per query word) cost more time than running them.
_EMBEDDED_SQL = """
SELECT EXISTS (
    SELECT 1 FROM tutor_coursechunk
    WHERE course_version_id = %s AND step_slug = ANY(%s) AND embedding IS NOT NULL
)"""
# Ordered by the distance alone: a second sort key would keep PostgreSQL off the HNSW index.
_NEAREST_SQL = """
SELECT id, step_slug, step_title, section, text, embedding <=> %s::vector AS distance
FROM tutor_coursechunk
WHERE course_version_id = %s AND step_slug = ANY(%s) AND embedding IS NOT NULL
ORDER BY distance
LIMIT %s"""
# The document is the very expression of the GIN index (tutor.models.CourseChunk), so the index
# is used. Its "simple" configuration has no stemming and no stop words: course text is full of
# code identifiers and may be in any language. `strict`: the query as written (websearch syntax);
# `loose`: any of its content words as prefixes; `shared`: how many of those words a chunk has.
_TEXT_SQL = """
SELECT id FROM (
    SELECT c.id, c.position,
           CASE WHEN doc @@ strict THEN ts_rank(doc, strict) END AS strict_rank,
           (SELECT count(*) FROM unnest(%(terms)s::text[]) AS t(term)
            WHERE doc @@ to_tsquery('simple'::regconfig, t.term || ':*')) AS shared
    FROM tutor_coursechunk c,
         to_tsvector('simple'::regconfig, COALESCE(c.text, '')) AS doc,
         websearch_to_tsquery('simple'::regconfig, %(query)s) AS strict,
         to_tsquery('simple'::regconfig, %(loose)s) AS loose
    WHERE c.course_version_id = %(version)s AND c.step_slug = ANY(%(steps)s)
      AND (doc @@ strict OR doc @@ loose)
) AS found
WHERE strict_rank IS NOT NULL OR shared >= %(min_shared)s
ORDER BY strict_rank DESC NULLS LAST,
         CASE WHEN strict_rank IS NULL THEN shared ELSE 0 END DESC,
         position
LIMIT %(pool)s"""


def _vector_ranking(
    scope: _Scope,
    query: str,
    pool: int,
    embedding: Future[list[float]] | None = None,
    *,
    look: bool = True,
) -> list[tuple[CourseChunk, float]]:
    """(chunk, cosine distance) nearest to the query first; [] without embeddings or a model.
    The chunks come with the text a passage shows (not their embeddings). `look`: first check
    that the scope has embedded chunks (not to wait for the query's embedding in vain)."""
    if look:
        with connection.cursor() as cursor:
            cursor.execute(_EMBEDDED_SQL, [scope.version_id, scope.steps])
            if not cursor.fetchone()[0]:
                return []
    with transaction.atomic(), connection.cursor() as cursor:
        # Local to this transaction; see HNSW_EF_SEARCH. Set before waiting for the embedding,
        # so that once it is here one statement remains.
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(HNSW_EF_SEARCH)])
        try:
            if embedding is None:
                vector = _embed_query(query)
            else:
                vector = embedding.result(timeout=QUERY_EMBED_TIMEOUT)
        except (ModelUnavailable, TimeoutError) as error:
            log.info("ranking by full text only: the query could not be embedded: %s", error)
            return []
        literal = "[" + ",".join(repr(float(x)) for x in vector) + "]"
        cursor.execute(_NEAREST_SQL, [literal, scope.version_id, scope.steps, pool])
        rows = cursor.fetchall()
    return [
        (
            CourseChunk(
                pk=pk,
                course_version_id=scope.version_id,
                step_slug=step_slug,
                step_title=step_title,
                section=section,
                text=text,
            ),
            distance,
        )
        for pk, step_slug, step_title, section, text, distance in rows
    ]


def _text_ranking(scope: _Scope, query: str, pool: int) -> list[int]:
    """Chunk ids by full-text match: first those matching the query as written (websearch
    syntax: every word, "quoted phrases", -exclusions) by rank; then, so that a question in plain
    words still finds passages when the model is down, those sharing at least two of its content
    words (one, if it has only one), most shared words first. One shared word is not evidence:
    "add up to one" must not pull in every passage that says "one"."""
    terms = content_words(query)
    # A term is letters and digits only (see _WORD), so the raw tsquery syntax is safe; with no
    # content words the loose match is an empty query, which matches nothing.
    loose = " | ".join(f"{term}:*" for term in terms)
    with connection.cursor() as cursor:
        cursor.execute(
            _TEXT_SQL,
            {
                "terms": terms,
                "query": query,
                "loose": loose,
                "version": scope.version_id,
                "steps": scope.steps,
                # No content words: `shared` is 0 everywhere, and only strict matches count.
                "min_shared": min(2, len(terms)) if terms else 1,
                "pool": pool,
            },
        )
        return [pk for (pk,) in cursor.fetchall()]


_WORD = re.compile(r"[^\W_]+")


def content_words(query: str) -> list[str]:
    """The query's content words as prefixes: words of more than five letters lose up to three
    final letters (keeping five), so "probability" meets "probabilities" and "dividing" meets
    "divide" without a stemmer that would know one language only. Stop words, single letters
    and -excluded words are left out."""
    terms: dict[str, None] = {}
    for token in query.lower().split():
        if token.startswith("-"):
            continue
        for word in _WORD.findall(token):
            if len(word) > 1 and word not in _STOP_WORDS:
                terms[word[: max(5, len(word) - 3)]] = None
    return list(terms)[:MAX_LOOSE_TERMS]
