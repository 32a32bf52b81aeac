"""The solution guard: does an AI TA reply give away an exercise's answer or worked solution
before the student may see it?

Teaching principle 3: the solution stays back until the student has tried. The prompt builder
keeps a locked exercise's solution out of the model's context; this module is the second layer,
for when the model knows or guesses the answer anyway, or is talked into revealing it. It is pure
(no database, no settings): `check_reply` scores one finished reply against one exercise, and
`safe_replacement` is the hint-level reply the TA sends instead when the guard trips.
`ReplyGuard(exercise).check(reply, ...)` is `check_reply` with the exercise read once, for the
growing text of a streamed reply.

Contract
--------
`check_reply(reply, exercise, solution_unlocked=...)` returns a `GuardVerdict`: a score in [0, 1],
`tripped = score >= THRESHOLD`, and human-readable reasons for the log. When the solution is
unlocked (the student attempted, or used every hint) nothing is withheld any more: the verdict is
never tripped and the score is 0. What the student may already see never counts against a reply:
the prompt, the options of a multiple-choice exercise, and the authored hints (hint-level by
design, even when a hint states a number equal to the answer).

Signals
-------
Each signal scores in [0, 1]; a signal trips the guard on its own from 0.5 (see Combination).

1. Numeric answer (numeric exercises; numeric options and accepted answers use the same reading).
   Every number in the reply is found: `0.5`, `.5`, `5e-1`, `1.5x10^3`, `0,5`, fractions `1/2`,
   `3 / 6` and `3 out of 6` (the numerator counts too: `3/11 of the letters` gives the count 3),
   `50%` (read as 0.5 and as 50), the Unicode minus, digits of any script, full-width and styled
   digits, and number words: English 0-99 (`three`, `twenty-one`, `twice`, `half`, `single`),
   French, German and Spanish 0-20, and `zero point five` / `null Komma fünf`. A number matches the
   answer within the exercise tolerance (plus the float slack answer checking allows), or when it
   is the answer rounded to the reply's own precision from two decimals on (`1.57` for 1.5729). A
   match is then scored by how the reply presents it, because the same number often appears
   legitimately:

   - 0 (ignored): a list marker (`1.` at a line start) or a label (`hint 1`, `step 3`); a piece
     of the prompt or a hint quoted with its neighbouring words (`w = 0.5` when the prompt says
     `w = 0.5`); a value the prompt itself contains, unless presented as the answer (below);
     `one`-like words used as pronouns or articles (`the next one`, `one of`, `un`, `ein`,
     `a pair of`).
   - 0.95, explicit frame: `the answer is 3`, `answer: 3`, `= 3`, `≈ 3`, `equals`, `comes to`,
     `adds up to`, `pick 3`, `3 is correct`, and French, German and Spanish forms
     (`la réponse est`, `die Antwort ist`, `la respuesta es`).
   - 0.85, softer frame: a verb stating a value (`is`, `there are`, `you get`, `appears`,
     `returns`, `I'd say`, `of size`, `c'est`, `es gibt`, `hay`, `donc`, a colon), the noun the
     prompt asks about right after it (`3 times` for "how many times", `one previous character`),
     bold or code ticks, or a line of its own. Quoting the prompt's numbers is fine, so a value the
     prompt contains needs an explicit frame, the asked noun, or a soft frame that ends the clause
     (`so it's 2.`); `one`-like words need the same.
   - 0.45, a soft frame counting something the prompt and hints never mention (`there are two
     things to check`, `you have 7 of the pieces`): a stated value, but of something else.
   - bare mention: 0.6 when the answer is distinctive (not an integer, or above 10: `729` and
     `0.5` rarely appear by chance), 0.3 for small integers, which do. 0.2 when negated
     (`it's not 3`): a TA does not call the right answer wrong.
   So the numeric threshold is: presented as the answer, or a distinctive value mentioned at all.

2. Accepted short answers: a normalised accepted answer (`normalise_text` rules: case, accents,
   markup and surrounding punctuation do not count) occurs as a phrase in the normalised reply,
   up to three extra letters on a word of five or more (`bigrams`, `bigramas`, `bigramme`): 0.9.
   An answer the prompt contains is skipped. A word sharing a long stem with a one-word answer
   (a common prefix of at least 7 letters and 60% of the answer: `normalize`, `Normalisierung`,
   `normalización` for `normalisation`) scores 0.6, which also catches translations that keep the
   stem; `normal`, the hint's own word, does not.

3. Multiple choice. An option is found by its text (a phrase; a one-word or one-letter option only
   when quoted, at a clause end or after a frame, and `a`/`i`/`o`/`y` only quoted, at a clause end
   or after `letter`/`character`, since they are words of their own), by its number (as in 1), or
   by its position (`option B`, `(b)`, `choice 2`, `the first one`, `la première option`). An
   option inside a longer one (`at most s` in `at most s/2`) is the longer one. Then:
   - the correct option in an explicit frame (`the answer is u`, `pick option A`, `(a) is
     correct`): 0.95; after a soft frame (`it's u`, `so a is ...`), or followed by two of the
     prompt's own content words (`u most often follows q`): 0.85;
   - every wrong option ruled out (`it's not e`, `e is wrong`, `rule out b`), which with two
     options leaves only the correct one: 0.85; some of several: up to 0.3;
   - the correct option mentioned and the others only ruled out: 0.7; the correct option the only
     one mentioned: 0.55 (a hint compares options; singling out the right one gives it away).
   Options listed together (`is it a, n or b?`, `option A, option B and option C`) are restated,
   not identified, whatever frame precedes the list.

4. Worked-solution overlap: word 3-grams of the normalised prose (folded, no Markdown, LaTeX or
   code blocks, light stemming, stop words dropped so only content words count). Only the
   solution's distinctive 3-grams count: those also in the prompt, the hints or the options are
   visible or hint-level anyway. With c the share of them found in the reply and m their number,
   the score is the larger of a ramp on c (0 at 0.15, 0.5 at 0.35, 1 at 0.6) and a ramp on m (0 at
   4, 0.5 at 10, 1 at 16: a long solution copied in part). Fewer than three matches (or than the
   whole solution, if it has fewer) score at most 0.4: one or two shared 3-grams are how a good
   hint restates a definition.

5. Code similarity: the solution's fenced code against the reply's code (fenced blocks, code-like
   lines, code-like inline spans), as token sequences with identifiers kept and comments,
   whitespace and quote style dropped. The measure is the larger of difflib's ratio and the share
   of the solution's tokens covered by common runs of at least 4 tokens (the solution inside a
   longer program). Ramp: 0 at 0.3, 0.5 at 0.6, 1 at 0.85. Solutions with fewer than 8 code
   tokens have no code signal. One hint-level line of the solution stays below the threshold.

6. Evasions. Before any check, text is folded: NFKC (full-width and styled digits, superscripts,
   circled digits), digits of any script to ASCII, invisible characters and variation selectors
   dropped, dashes and quotes unified, LaTeX `\\frac{a}{b}` as `a/b`, accents stripped, case
   folded. Number words and answer frames in French, German and Spanish are part of the ordinary
   checks. Then every check runs again on what the reply encodes: base64 strings (decoded, twice
   if nested), rot13, reversed text, reversed words, and spaced-out letters or digits (`t h r e
   e`, `n-o-r-m`, `0 . 5`). A rot13 or reversed segment is read only when it reads better than
   the original (more common English, French, German or Spanish words), so ordinary text is never
   "decoded" into a match. Something that came out of a decoding (not already in the reply as
   written) is presented by definition: 0.9.

Combination
-----------
Each signal keeps its highest score over the reply and its decoded forms; signals combine as
independent evidence, `score = 1 - prod(1 - s_i)`, and `THRESHOLD = 0.5`. One signal at 0.5 trips
the guard; so do two weaker ones together (0.3 and 0.3 give 0.51), while a lone bare small number
(0.3) or a number counting something else (0.45) does not.

Known limits: a solution paraphrased in other words, or translated (beyond numbers, answer stems
and option names), is not recognised; arithmetic that evaluates to the answer (`2 + 1`) is not
evaluated; encodings other than those above are not decoded; and a reply stating the answer's
value about something else (`every entry becomes 1` when the answer is 1) can trip. A tripped guard
costs the student a hint instead of a reply, so the thresholds lean towards tripping.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import codecs
import difflib
import functools
import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum

from courses.answers import AnswerInvalid, normalise_text, parse_number
from courses.spec import ExerciseSpec

__all__ = ["THRESHOLD", "GuardVerdict", "ReplyGuard", "check_reply", "safe_replacement"]

THRESHOLD = 0.5

# Scores of one numeric or option mention, by how it is presented (see the module docstring).
EXPLICIT_SCORE = 0.95
FRAMED_SCORE = 0.85
DECODED_SCORE = 0.9
BARE_DISTINCTIVE_SCORE = 0.6
BARE_SMALL_SCORE = 0.3
ASIDE_SCORE = 0.45
NEGATED_SCORE = 0.2
# Multiple choice.
SINGLED_OUT_SCORE = 0.55
OTHERS_RULED_OUT_SCORE = 0.7
ELIMINATED_SCORE = 0.85
PARTLY_ELIMINATED_SCORE = 0.3
# Accepted short answers.
ACCEPTED_SCORE = 0.9
STEM_SCORE = 0.6
STEM_MIN_PREFIX = 7
STEM_MIN_SHARE = 0.6
# Worked-solution overlap (ramps: value at score 0, 0.5 and 1).
NGRAM_SIZE = 3
NGRAM_SHARE_RAMP = (0.15, 0.35, 0.6)
NGRAM_COUNT_RAMP = (4.0, 10.0, 16.0)
NGRAM_MIN_MATCHES = 3
NGRAM_FEW_MATCHES_CAP = 0.4
# Code similarity.
CODE_RAMP = (0.3, 0.6, 0.85)
CODE_MIN_TOKENS = 8
CODE_MIN_RUN = 4
# A small integer answer is one that ordinary text contains by chance.
DISTINCTIVE_ABOVE = 10


@dataclass(frozen=True)
class GuardVerdict:
    tripped: bool
    score: float
    reasons: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Text folding: every check sees the same canonical text.

# Soft hyphen, zero-width characters, word joiner, BOM, variation selectors, the keycap mark.
_INVISIBLE = dict.fromkeys(
    [*map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff\u20e3"), *range(0xFE00, 0xFE10)]
)
_PUNCTUATION = str.maketrans(
    {
        "\u2212": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\ufe63": "-",
        "\u2044": "/",
        "\u2215": "/",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00ab": '"',
        "\u00bb": '"',
    }
)
_LATEX_FRACTION = re.compile(r"\\d?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LATEX_SYMBOLS = (
    (re.compile(r"\\approx\b"), " \u2248 "),
    (re.compile(r"\\(?:times|cdot)\b"), " \u00d7 "),
    (re.compile(r"\\(?:to|rightarrow|Rightarrow|implies)\b"), " \u2192 "),
    (re.compile(r"\\[A-Za-z]+"), " "),
)


def _ascii_digits(text: str) -> str:
    """Decimal digits of any script (Arabic-Indic, Devanagari, ...) as ASCII digits."""
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text
    )


def _fold(text: str) -> str:
    """Canonical form: NFKC (full-width and styled digits, superscripts), invisible characters
    dropped, digits of any script as ASCII, dashes and quotes unified, LaTeX fractions as `a/b`,
    accents stripped, case folded. Line breaks are kept: list markers depend on them.

    ASCII text (most replies) skips the Unicode steps, which leave it as it is: the guard
    folds a streamed reply at every flush, and they were most of its time."""
    if not text.isascii():
        return _fold_unicode(text)
    return _latex_plain(text).casefold()


def _fold_unicode(text: str) -> str:
    """`_fold` for text of any script."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    text = _ascii_digits(text).translate(_PUNCTUATION)
    text = unicodedata.normalize("NFKD", _latex_plain(text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold()


def _latex_plain(text: str) -> str:
    """LaTeX fractions as `a/b`, a few operators as their symbols, other commands dropped (the
    symbols have no decomposition, so folding after this step leaves them as they are)."""
    if "\\" not in text:
        return text
    text = _LATEX_FRACTION.sub(r" \1/\2 ", text)
    for pattern, replacement in _LATEX_SYMBOLS:
        text = pattern.sub(replacement, text)
    return text


_MARKUP = re.compile(r"[*`$\"]|(?<![^\W_])_+|_+(?![^\W_])")


def _plain(text: str) -> str:
    """Folded text without Markdown emphasis, code ticks, math dollars or quotes, spaces
    collapsed: what frames and phrases are matched on."""
    return " ".join(_MARKUP.sub("", text).split())


@dataclass(frozen=True)
class _PlainMap:
    """`_plain(source)` with, for each of its characters, where it came from in the source, so
    that hits found in either form can be compared in one coordinate space."""

    text: str
    origin: tuple[int, ...]

    @classmethod
    def of(cls, source: str) -> _PlainMap:
        removed = {i for m in _MARKUP.finditer(source) for i in range(m.start(), m.end())}
        chars: list[str] = []
        origin: list[int] = []
        for index, char in enumerate(source):
            if index in removed:
                continue
            if char.isspace():
                if not chars or chars[-1] == " ":
                    continue
                char = " "
            chars.append(char)
            origin.append(index)
        if chars and chars[-1] == " ":
            chars.pop()
            origin.pop()
        return cls("".join(chars), tuple(origin))

    def at(self, index: int) -> int:
        """The plain position of the first plain character at or after a source position."""
        return bisect.bisect_left(self.origin, index)


def _phrase(text: str) -> str:
    """An option or accepted answer as a phrase to look for (`normalise_text` rules, folded)."""
    return _plain(normalise_text(_fold(text)))


def _compact(text: str) -> str:
    return re.sub(r"[\s*`$\"_\\]", "", text)


_WORD = re.compile(r"[^\W\d_]+")


def _stem(word: str) -> str:
    """Light English stemming, enough for 'follows'/'followed'/'follow' and plurals."""
    if len(word) > 4:
        if word.endswith("ies"):
            return word[:-3] + "y"
        if word.endswith("ing") and len(word) > 6:
            return word[:-3]
        if word.endswith("ed") and len(word) > 5:
            return word[:-2]
        if word.endswith("s") and not word.endswith("ss"):
            return word[:-1]
    return word


# ---------------------------------------------------------------------------------------------
# Words


def _word_set(*lines: str) -> frozenset[str]:
    return frozenset(" ".join(lines).split())


_STOP_WORDS = _word_set(
    "a an the and or but if then than so of in on at to for from by with as into onto out up",
    "down over under about above below after before between through during until while because",
    "since is are was were be been being am it its it's itself this that these those there here",
    "which what who whom whose when where why how do does did done doing have has had having",
    "not no nor can could will would shall should may might must",
    "i you he she we they me him her us them",
    "my your his our their mine yours ours theirs s t too very just only also each every all any",
    "some such other another same own both few more most much many let lets let's get gets got",
    "yes ok okay sure now well again further once here there what's that's there's you're don't",
    "isn't aren't doesn't can't won't i'm we're they're via per like really simply still even",
)
# Common words of the languages a TA replies in: how a decoded segment shows it reads better.
_FOREIGN_COMMON = _word_set(
    "le la les un une des du de et est sont il elle nous vous ils qui que pas dans pour sur avec",
    "ce cette c'est reponse solution der die das ein eine und ist sind nicht mit fur auf es ich du",
    "wir sie antwort losung el los las y es son no con por para una que respuesta solucion",
)
_TA_WORDS = _word_set(
    "answer answers result solution correct right wrong option choice letter character",
    "characters count counts times probability model bigram text hint try think step number",
)

_UNITS_EN = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
_TEENS_EN = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS_EN = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_FRENCH = (
    "zero un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze "
    "seize dix-sept dix-huit dix-neuf vingt"
)
_GERMAN = (
    "null eins zwei drei vier funf sechs sieben acht neun zehn elf zwolf dreizehn vierzehn "
    "funfzehn sechzehn siebzehn achtzehn neunzehn zwanzig"
)
_SPANISH = (
    "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince "
    "dieciseis diecisiete dieciocho diecinueve veinte"
)


def _number_words() -> dict[str, tuple[float, ...]]:
    words: dict[str, set[float]] = {}

    def add(word: str, value: float) -> None:
        words.setdefault(word, set()).add(float(value))

    for table in (_UNITS_EN, _TEENS_EN, _TENS_EN):
        for word, value in table.items():
            add(word, value)
    for tens, tens_value in _TENS_EN.items():
        for unit, unit_value in _UNITS_EN.items():
            if unit_value:
                add(f"{tens}-{unit}", tens_value + unit_value)
    for listing in (_FRENCH, _GERMAN, _SPANISH):
        for value, word in enumerate(listing.split()):
            add(word, value)
    for word in ("une", "ein", "eine", "einen", "einem", "einer", "una"):
        add(word, 1)
    for word, value in (
        ("twice", 2),
        ("thrice", 3),
        ("once", 1),
        ("nought", 0),
        ("nil", 0),
        ("single", 1),
        ("pair", 2),
    ):
        add(word, value)
    for word in ("half", "demi", "demie", "moitie", "halb", "halbe", "halfte", "medio", "mitad"):
        add(word, 0.5)
    return {word: tuple(sorted(values)) for word, values in words.items()}


_NUMBER_WORDS = _number_words()
# Number words that are just as often articles or pronouns ("the next one", French "un", German
# "ein", English "once", code's "null"): they count only when clearly presented as a number.
_WEAK_WORDS = _word_set(
    "one un une ein eine einen einem einer uno una once null elf nil single pair"
)
_HALF_WORDS = frozenset(("half", "demi", "demie", "halbe", "medio"))
_HALF_ARTICLES = frozenset(("a", "one", "un", "une", "ein", "eine", "una", "uno"))
_MENTION_STARTS = _HALF_ARTICLES | frozenset(_NUMBER_WORDS)
_DIGIT_WORDS = {
    word: str(int(values[0]))
    for word, values in _NUMBER_WORDS.items()
    if len(values) == 1 and values[0].is_integer() and 0 <= values[0] <= 9
}
_DECIMAL_POINT_WORDS = frozenset(("point", "virgule", "coma", "komma"))
_LEXICON = (
    _STOP_WORDS | _FOREIGN_COMMON | _TA_WORDS | frozenset(w for w in _NUMBER_WORDS if "-" not in w)
)


# ---------------------------------------------------------------------------------------------
# Number mentions


class _Form(Enum):
    DIGITS = "digits"
    WORD = "word"
    WEAK = "weak word"


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    values: tuple[float, ...]
    text: str
    form: _Form
    # Decimals written after the point, for "the answer rounded" matches; None for fractions.
    decimals: int | None = None


_NUMBER = re.compile(
    r"(?<![\w.,])"
    r"(?P<num>[+-]?(?:\d+(?:\.\d+)?(?:,\d+(?![,\d]))?|\.\d+)(?:e[+-]?\d+)?"
    r"(?:\s*[x\u00d7*]\s*10\s*\^\s*[+-]?\d+)?)"
    r"(?:\s*/\s*(?P<den>\d+(?:\.\d+)?)(?![\d.]\d))?"
    r"(?:\s+out\s+of\s+(?P<outof>\d+))?"
    r"(?P<pct>\s*(?:%|percent\b|per\s+cent\b|pour\s*cent\b|prozent\b|por\s+ciento\b))?"
    r"(?!\w)"
)
_WORD_NUMBER = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def _digit_mentions(text: str) -> Iterator[_Mention]:
    for match in _NUMBER.finditer(text):
        raw = match["num"]
        try:
            value = parse_number(raw)
        except AnswerInvalid:
            continue
        values = [value]
        if re.fullmatch(r"[+-]?\d{1,3},\d{3}", raw):  # 1,000 is a thousand in English
            values.append(float(raw.replace(",", "")))
        decimals: int | None = (
            len(raw.split(".")[1]) if re.fullmatch(r"[+-]?\d*\.\d+", raw) else None
        )
        denominator = match["den"] or match["outof"]
        if denominator:
            below = float(denominator)
            # The fraction's value, and its numerator ("3/11 of the letters" gives the count).
            values = [value / below, value] if below else [value]
            decimals = None
        if match["pct"]:
            values += [v / 100 for v in values]
            decimals = None
        yield _Mention(
            match.start(), match.end(), tuple(values), match.group(), _Form.DIGITS, decimals
        )


def _word_mentions(text: str) -> Iterator[_Mention]:
    words = list(_WORD_NUMBER.finditer(text))
    tokens = [word.group() for word in words]

    def adjacent(j: int) -> bool:
        """Word j follows word j - 1 after a single space."""
        return 0 < j < len(words) and text[words[j - 1].end() : words[j].start()] == " "

    after = 0  # words before this one are part of a mention already
    # Only the few words that can begin a mention are looked at (a streamed reply is read
    # again at every flush).
    for i in [i for i, token in enumerate(tokens) if token in _MENTION_STARTS]:
        if i < after:
            continue
        token = tokens[i]
        start, end = words[i].span()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        # "a half", "one half", "un demi": one mention of 0.5.
        if token in _HALF_ARTICLES and nxt in _HALF_WORDS and adjacent(i + 1):
            end = words[i + 1].end()
            yield _Mention(start, end, (0.5,), text[start:end], _Form.WORD)
            after = i + 2
            continue
        values = _NUMBER_WORDS.get(token)
        if values is None:
            continue
        form = _Form.WEAK if token in _WEAK_WORDS else _Form.WORD
        after = i + 1
        if token in _TENS_EN and _UNITS_EN.get(nxt) and adjacent(i + 1):
            # "twenty one" (the hyphenated form is in the table).
            values = (float(_TENS_EN[token] + _UNITS_EN[nxt]),)
            end = words[i + 1].end()
            after = i + 2
        elif nxt in _DECIMAL_POINT_WORDS and adjacent(i + 1) and values[0].is_integer():
            # "zero point five", "null komma fünf", "cero coma cinco".
            digits: list[str] = []
            j = i + 2
            while adjacent(j) and tokens[j] in _DIGIT_WORDS:
                digits.append(_DIGIT_WORDS[tokens[j]])
                j += 1
            if digits:
                values = (float(f"{int(values[0])}.{''.join(digits)}"),)
                end = words[j - 1].end()
                form = _Form.WORD
                after = j
        yield _Mention(start, end, values, text[start:end], form)


def _mentions(text: str) -> list[_Mention]:
    return sorted([*_digit_mentions(text), *_word_mentions(text)], key=lambda m: m.start)


def _close(value: float, target: float, tolerance: float = 0.0) -> bool:
    # The same slack answer checking allows for decimals that binary floats cannot hold.
    return abs(value - target) <= tolerance + 1e-9 * max(1.0, abs(target))


def _matches(mention: _Mention, target: float, tolerance: float) -> bool:
    if any(_close(v, target, tolerance) for v in mention.values):
        return True
    # The answer rounded to the reply's own precision ("1.57" for 1.5729), from two decimals on.
    if mention.decimals is not None and mention.decimals >= 2 and not target.is_integer():
        unit = 0.5 * 10.0 ** (-mention.decimals)
        return any(abs(v - target) <= unit + 1e-12 for v in mention.values)
    return False


# ---------------------------------------------------------------------------------------------
# Frames: how the words around a mention present it. Patterns run on `_plain` windows.

_FILLER = (
    r"(?:\s+(?:exactly|just|only|about|approximately|roughly|around|simply|precisely|also|then|"
    r"now|actually|really|clearly|indeed|definitely|basically|therefore|thus|so|still|always|"
    r"the|la|le|el|die|der|das|l'|"
    r"exactement|seulement|environ|juste|donc|genau|nur|etwa|ungefahr|also|exactamente|solo|"
    r"solamente|aproximadamente|entonces))*\s*"
)
_ANSWER_NOUNS = (
    r"(?:final\s+|correct\s+|right\s+|bonne\s+|richtige\s+|correcta\s+)?"
    r"(?:answer(?:\s+key)?|answers|result|solution|reponse|resultat|antwort|ergebnis|losung|"
    r"respuesta|resultado|solucion)(?:\s+(?:correcte|correcta|correcto|juste|richtige))?"
)
_EXPLICIT_BEFORE = re.compile(
    # "answer" needs a verb or a colon after it: "can you answer 2 questions?" states nothing.
    r"(?:\b" + _ANSWER_NOUNS + r"(?:'s|\s+(?:is|are|was|would\s+be|should\s+be|will\s+be|est|"
    r"sera|ist|lautet|es|seria|serait|ware)(?:\s*[:=])?|\s*[:=\-])"
    r"|[=\u2248\u2192]|~=|->|=>|\bequals?|\bequal\s+to|\bcomes?\s+(?:out\s+)?to"
    r"|\bworks?\s+out\s+(?:to|as)|\badds?\s+up\s+to|\bsums?\s+(?:up\s+)?to|\btotals?\s+to"
    r"|\bgleich|\begale?s?\s+a|\bigual\s+a|\bvaut|\bergibt|\bbetragt)" + _FILLER + r"$"
)
_SOFT_BEFORE = re.compile(
    r"\b(?:is|are|was|were|be|it's|its|that's|thats|there's|there\s+are|there\s+is|gives?|"
    r"giving|get|gets|got|getting|makes?|has|have|had|total(?:\s+of)?|totals|becomes?|so|"
    r"thus|hence|therefore|find|found|counted|appears?|occurs?|shows?\s+up|looks?\s+at|"
    r"uses?|sees?|depends\s+on|est|sont|c'est|il\s+y\s+a|donne|fait|ist|sind|es\s+gibt|gibt|"
    r"macht|es|son|hay|da|vale|tiene|returns?|prints?|outputs?|yields?|evaluates\s+to|"
    r"(?:i'd|i\s+would|i)\s+(?:say|guess|think\s+it's|go\s+with)|my\s+guess\s+is|donc|alors|"
    r"(?:size|length|value|width)(?:\s+of)?|"
    r"ainsi|entonces|asi\s+que|por\s+lo\s+tanto|luego|daher|deshalb|folglich|somit)"
    r"\s*[:,]?" + _FILLER + r"$"
    r"|[^\W\d_]\s*:\s*$"
)
_EXPLICIT_AFTER = re.compile(
    r"^\s*[)\]]?\s*(?:is|was|would\s+be|should\s+be|'s)\s+(?:the\s+)?(?:correct|right|answer|"
    r"solution|result|one\s+you\s+want)\b"
    r"|^\s*(?:est|ist|es)\s+(?:la\s+|die\s+|das\s+)?(?:bonne|correct|richtig|correcta|reponse|"
    r"antwort|respuesta)"
)
_NEGATED_BEFORE = re.compile(
    r"(?:\bnot|n't|\bnever|\bno|\bpas|\bnicht|\bkein\w*|\bnunca|\bni)\b(?:\s+[^\s.!?;:,]+){0,2}\s*$"
)
_NEGATED_AFTER = re.compile(
    r"^\s*(?:is|are|'s|was|est|ist|es)?\s*(?:not\b|n't\b|never\b|wrong\b|incorrect\b|false\b|"
    r"out\b|eliminated\b|ruled\s+out|a\s+(?:trap|distractor)|faux\b|fausse\b|falsch\b|"
    r"incorrecta?\b|n'est\s+pas|nicht\b|no\s+es)"
    r"|^\s*can(?:not|'t|\s+be\s+ruled\s+out|\s+be\s+eliminated)"
)
_ARTICLE = r"(?:\s+(?:the|la|le|l'|die|der|das|el))?"
_ELIMINATING_BEFORE = re.compile(
    r"\b(?:(?:rule|rules|ruling)\s+out|eliminate|eliminates|cross\s+out|discard|exclude|"
    r"ecarte|ecartez|elimine|eliminez|streiche|descarta|elimina)"
    + _ARTICLE
    + r"(?:\s+(?:option|letter|choice))?\s*$"
)
_CHOOSING_BEFORE = re.compile(
    r"\b(?:pick|choose|select|go\s+with|tick|mark|circle|click|opt\s+for|choisis|choisissez|"
    r"choisir|prends|prenez|wahle|wahlen|nimm|elige|escoge|selecciona)" + _ARTICLE + r"\s*$"
)
_LABEL_BEFORE = re.compile(
    r"\b(?:step|hint|exercise|question|line|lines|chapter|part|section|example|item|page|"
    r"version|figure|table|rule|case|tip|level|attempt|python|indice|etape|hinweis|schritt|"
    r"pista|paso|no\.|nr\.|#)\s*$|#\s*$"
)
_LIST_MARKER = re.compile(r"^\s*(?:[-*+]\s+)?$")
_CLAUSE_END = re.compile(r"^[*`_\"'\s]*(?:[.!?;,:)\]\u2014]|\n|\s-\s|$)")
_PRONOUN_AFTER = re.compile(
    r"^\s*(?:of\b|that\b|which\b|who\b|another\b|by\s+one\b|more\b|at\s+a\s+time\b|or\s+two\b|"
    r"thing\b|way\b|day\b|de\s|des\s|d')"
)
_PRONOUN_BEFORE = re.compile(
    r"\b(?:the|this|that|each|every|any|no|which|next|last|other|another|right|wrong|correct|"
    r"first|second|same|such|le|la|l'|el|der|die|das)\s*$"
)
_QUOTE_CHARS = '`"*'


@dataclass
class _Context:
    """What the checks need to know about the exercise, computed once per reply."""

    exercise: ExerciseSpec
    prompt_plain: str
    # The prompt and the authored hints, compacted and separated: text the TA may quote.
    quotable: str
    prompt_values: tuple[float, ...]
    asked: frozenset[str]
    prompt_words: frozenset[str]
    # Stems of the prompt's content words: a reply that follows an option with them answers
    # the prompt's question with that option ("`u` most often follows `q`").
    prompt_stems: frozenset[str]
    # Stems of the words of the prompt and hints: what a counted noun may refer to.
    topic_stems: frozenset[str]
    solution_grams: set[tuple[str, ...]]
    solution_code: list[str]


def _context(exercise: ExerciseSpec) -> _Context:
    prompt = _fold(exercise.prompt)
    values = tuple(v for m in _mentions(prompt) if m.form is not _Form.WEAK for v in m.values)
    plain = _plain(prompt)
    asked: set[str] = set()
    for match in re.finditer(r"\bhow\s+many\s+((?:[^\W\d_]+\s*){1,3})", plain):
        for word in match[1].split():
            if word in _STOP_WORDS or word in ("does", "did", "appear", "will") or len(word) < 2:
                break
            asked.add(_stem(word))
    if re.search(r"\bhow\s+often\b|\bhow\s+many\s+times\b", plain):
        asked |= {"time", "fois", "mal", "vece", "occurrence"}
    asked |= {_stem(w) for w in _WORD.findall(_fold(exercise.unit))}
    return _Context(
        exercise=exercise,
        prompt_plain=plain,
        quotable="\x00".join(_compact(_fold(t)) for t in [exercise.prompt, *exercise.hints]),
        prompt_values=values,
        asked=frozenset(asked),
        prompt_words=frozenset(_WORD.findall(plain)),
        prompt_stems=frozenset(
            _stem(word) for word in _WORD.findall(plain) if word not in _STOP_WORDS
        ),
        topic_stems=frozenset(
            _stem(word)
            for text in [exercise.prompt, *exercise.hints]
            for word in _WORD.findall(_plain(_fold(text)))
        ),
        solution_grams=_solution_grams(exercise),
        solution_code=_solution_code(exercise.solution),
    )


class _Cat(Enum):
    """How a mention is presented, strongest last."""

    IGNORED = 0
    NEGATED = 1
    MENTIONED = 2
    ASIDE = 3  # a stated value that counts something the prompt does not ask about
    FRAMED = 4
    DECODED = 5
    EXPLICIT = 6


@dataclass(frozen=True)
class _Reading:
    cat: _Cat
    why: str


def _windows(text: str, start: int, end: int) -> tuple[str, str]:
    return _plain(text[max(0, start - 80) : start]), _plain(text[end : end + 60])


def _asked_noun_follows(after: str, ctx: _Context) -> bool:
    match = re.match(r"[ \t]*((?:[^\W\d_']+[ \t-]+){0,2}[^\W\d_']+)", after)
    if match is None:
        return False
    return any(_stem(word) in ctx.asked for word in re.split(r"[ \t-]+", match[1]))


def _counts_something_else(after: str, ctx: _Context) -> bool:
    """The number is followed by a noun that neither the prompt nor the hints use ('two
    things', '7 of the pieces'): it counts something other than what is asked."""
    words = re.match(r"[ \t]*([^\W\d_']+)(?:[ \t]+([^\W\d_']+))?(?:[ \t]+([^\W\d_']+))?", after)
    if words is None:
        return False
    candidates = [w for w in words.groups() if w]
    if candidates[0] == "of":  # "7 of the pieces", "2 of them"
        candidates = [w for w in candidates[1:] if w not in ("the", "these", "those")][:1]
    else:
        candidates = candidates[:1]
    if not candidates:
        return False
    noun = candidates[0]
    if noun in _STOP_WORDS or noun in _NUMBER_WORDS or noun in _DECIMAL_POINT_WORDS:
        return False
    # "`l`s" reads "ls" once the code ticks are gone: a plural of a quoted letter.
    forms = {noun, _stem(noun), noun[:-1] if noun.endswith("s") else noun}
    return not forms & (ctx.topic_stems | ctx.asked)


def _wrapped(text: str, start: int, end: int) -> bool:
    """Bold, code ticks or quotes right around the mention."""
    before = text[max(0, start - 2) : start]
    after = text[end : end + 2]
    return bool(before) and before[-1] in _QUOTE_CHARS and bool(after) and after[0] in _QUOTE_CHARS


def _own_line(text: str, start: int, end: int) -> bool:
    """Nothing but markup and punctuation shares the mention's line ("**3**", "- 3.")."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    rest = text[line_start:start] + text[end : line_end if line_end >= 0 else len(text)]
    # Checked on the rest of the line only, so a long line costs nothing.
    return len(rest) <= 12 and not re.search(r"[^\W_]", rest)


def _is_label(text: str, mention: _Mention, before: str) -> bool:
    if mention.form is not _Form.DIGITS:
        return False
    line_start = text.rfind("\n", 0, mention.start) + 1
    if _LIST_MARKER.match(text[line_start : mention.start]) and re.match(
        r"[.)](?:\s|$)", text[mention.end : mention.end + 2]
    ):
        return True
    return bool(_LABEL_BEFORE.search(before))


def _quotes_prompt(before: str, after: str, piece: str, ctx: _Context) -> bool:
    """The piece (a number, an option) together with two neighbouring words on one side is a
    piece of the prompt or of an authored hint: the student sees the one, and the other is
    hint-level by design, even when a hint's number equals the answer. One word is not enough
    context: "2 times" is how any reply would state the count."""
    own = _compact(piece)
    previous = before.split()[-2:]
    if len(previous) == 2 and _compact("".join(previous)) + own in ctx.quotable:
        return True
    following = re.match(r"\s*([^\W_][\w'-]*)\s+([^\W_][\w'-]*)", after)
    if following is None:
        return False
    return own + _compact(following[1] + following[2]) in ctx.quotable


def _is_new(piece: str, original: str | None) -> bool:
    """When checking a decoded form of the reply (`original` is the reply itself, folded and
    plain): the piece came out of the decoding. Digits that rot13 leaves alone do not."""
    if original is None or not piece.strip():
        return False
    return _phrase_pattern(_plain(piece)).search(original) is None


def _read_number(text: str, mention: _Mention, ctx: _Context, original: str | None) -> _Reading:
    """How a number equal to the answer (or to an option) is presented."""
    before, after = _windows(text, mention.start, mention.end)
    if _is_label(text, mention, before):
        return _Reading(_Cat.IGNORED, "a label or list marker")
    if _is_new(mention.text, original):
        return _Reading(_Cat.DECODED, "inside encoded text")
    if _NEGATED_BEFORE.search(before) or _NEGATED_AFTER.match(after):
        return _Reading(_Cat.NEGATED, "negated")
    if _quotes_prompt(before, after, mention.text, ctx):
        return _Reading(_Cat.IGNORED, "quoted from the prompt")
    if match := _EXPLICIT_BEFORE.search(before):
        return _Reading(_Cat.EXPLICIT, f"after '{match.group().strip()}'")
    if _EXPLICIT_AFTER.match(after):
        return _Reading(_Cat.EXPLICIT, "called correct")
    if match := _CHOOSING_BEFORE.search(before):
        return _Reading(_Cat.EXPLICIT, f"after '{match.group().strip()}'")
    if _asked_noun_follows(after, ctx):
        return _Reading(_Cat.FRAMED, "followed by what the prompt asks for")
    soft = _SOFT_BEFORE.search(before)
    clause_end = bool(_CLAUSE_END.match(after))
    if mention.form is _Form.WEAK:
        if _PRONOUN_AFTER.match(after) or _PRONOUN_BEFORE.search(before):
            return _Reading(_Cat.IGNORED, "a pronoun or article")
        if soft and clause_end:
            return _Reading(_Cat.FRAMED, f"after '{soft.group().strip()}'")
        if _own_line(text, mention.start, mention.end):
            return _Reading(_Cat.FRAMED, "on a line of its own")
        return _Reading(_Cat.IGNORED, "a pronoun or article")
    in_prompt = any(_close(v, p) for v in mention.values for p in ctx.prompt_values)
    if in_prompt:
        if soft and clause_end:
            return _Reading(_Cat.FRAMED, f"after '{soft.group().strip()}', ending the clause")
        return _Reading(_Cat.IGNORED, "a number the prompt itself contains")
    if soft and _counts_something_else(after, ctx):
        return _Reading(_Cat.ASIDE, f"after '{soft.group().strip()}', counting something else")
    if soft:
        return _Reading(_Cat.FRAMED, f"after '{soft.group().strip()}'")
    if _wrapped(text, mention.start, mention.end):
        return _Reading(_Cat.FRAMED, "emphasised")
    if _own_line(text, mention.start, mention.end):
        return _Reading(_Cat.FRAMED, "on a line of its own")
    return _Reading(_Cat.MENTIONED, "mentioned")


# ---------------------------------------------------------------------------------------------
# Signals


@dataclass(frozen=True)
class _Signal:
    name: str
    score: float
    reason: str


def _number_score(reading: _Reading, target: float) -> float:
    if reading.cat is _Cat.EXPLICIT:
        return EXPLICIT_SCORE
    if reading.cat is _Cat.DECODED:
        return DECODED_SCORE
    if reading.cat is _Cat.FRAMED:
        return FRAMED_SCORE
    if reading.cat is _Cat.NEGATED:
        return NEGATED_SCORE
    if reading.cat in (_Cat.MENTIONED, _Cat.ASIDE):
        distinctive = not target.is_integer() or abs(target) > DISTINCTIVE_ABOVE
        bare = BARE_DISTINCTIVE_SCORE if distinctive else BARE_SMALL_SCORE
        return max(bare, ASIDE_SCORE) if reading.cat is _Cat.ASIDE else bare
    return 0.0


def _numeric_signal(
    name: str, text: str, target: float, tolerance: float, ctx: _Context, original: str | None
) -> _Signal | None:
    best: _Signal | None = None
    for mention in _mentions(text):
        if not _matches(mention, target, tolerance):
            continue
        reading = _read_number(text, mention, ctx, original)
        score = _number_score(reading, target)
        if score and (best is None or score > best.score):
            best = _Signal(name, score, f"'{mention.text.strip()}' ({reading.why})")
    return best


@functools.lru_cache(maxsize=1024)
def _phrase_pattern(phrase: str, inflected: bool = False) -> re.Pattern[str]:
    """The phrase between word boundaries, spaces flexible. `inflected` lets up to three letters
    follow a word of five or more: plurals and other languages' endings (bigrams, bigramas,
    bigramme)."""
    body = r"\s+".join(re.escape(part) for part in phrase.split())
    suffix = r"[^\W\d_]{0,3}" if inflected and len(phrase.split()[-1]) >= 5 else ""
    return re.compile(r"(?<![^\W_])" + body + suffix + r"(?![^\W_])")


def _accepted_signal(text: str, ctx: _Context, original: str | None) -> _Signal | None:
    plain = _plain(text)
    best: _Signal | None = None

    def keep(signal: _Signal | None) -> None:
        nonlocal best
        if signal and (best is None or signal.score > best.score):
            best = signal

    for accepted in ctx.exercise.accepted:
        try:
            number = parse_number(accepted)
        except AnswerInvalid:
            number = None
        if number is not None:
            keep(_numeric_signal("accepted answer", text, number, 0.0, ctx, original))
            continue
        phrase = _phrase(accepted)
        if not phrase or _phrase_pattern(phrase).search(ctx.prompt_plain):
            continue  # the student sees it in the prompt already
        if _phrase_pattern(phrase, inflected=True).search(plain):
            keep(_Signal("accepted answer", ACCEPTED_SCORE, f"'{phrase}' appears in the reply"))
            continue
        if " " in phrase or len(phrase) < STEM_MIN_PREFIX:
            continue
        need = max(STEM_MIN_PREFIX, math.ceil(STEM_MIN_SHARE * len(phrase)))
        for word in set(_WORD.findall(plain)):
            if len(word) < need or word in ctx.prompt_words:
                continue
            shared = len(_common_prefix(word, phrase))
            if shared >= need:
                keep(
                    _Signal(
                        "accepted answer",
                        STEM_SCORE,
                        f"'{word}' shares the stem of '{phrase}'",
                    )
                )
    return best


def _common_prefix(a: str, b: str) -> str:
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return a[:size]


# Multiple choice ---------------------------------------------------------------------------

_AMBIGUOUS_LETTERS = frozenset("aioy")  # English or French/Spanish words of their own
_LETTER_NOUNS = re.compile(
    r"\b(?:letter|character|char|lettre|caractere|buchstabe|zeichen|letra|caracter)\s*$"
)
_LETTER_LABELS = "abcdefgh"
_ORDINALS = {
    **dict.fromkeys(_word_set("first premier premiere erste ersten erster primera primero"), 0),
    **dict.fromkeys(_word_set("second deuxieme seconde zweite zweiten zweiter segunda segundo"), 1),
    **dict.fromkeys(_word_set("third troisieme dritte dritten dritter tercera tercero"), 2),
    **dict.fromkeys(_word_set("fourth quatrieme vierte vierten vierter cuarta cuarto"), 3),
    **dict.fromkeys(_word_set("last derniere dernier letzte letzten letzter ultima ultimo"), -1),
}
_INDEX_REFERENCE = re.compile(
    r"\b(?:option|choice|alternative|opcion|antwort|reponse|respuesta)\s*(?:#|no\.?|number|n)?"
    r"\s*[(\[]?(?P<label>[a-h]|[1-9])[)\]]?(?![^\W_])"
    r"|(?<![\w)])\((?P<paren>[a-h])\)"
    r"|\b(?P<ordinal>" + "|".join(sorted(_ORDINALS, key=len, reverse=True)) + r")"
    r"\s+(?:option|choice|alternative|answer|one|opcion|antwort|reponse|respuesta)\b"
)


@dataclass(frozen=True)
class _OptionHit:
    option: int
    reading: _Reading
    # Where the hit is in the `_plain` form of the reply.
    start: int
    end: int


def _read_option(text: str, start: int, end: int, ctx: _Context, original: str | None) -> _Reading:
    before, after = _windows(text, start, end)
    if _quotes_prompt(before, after, text[start:end], ctx):
        return _Reading(_Cat.IGNORED, "quoted from the prompt")
    if _NEGATED_BEFORE.search(before) or _NEGATED_AFTER.match(after):
        return _Reading(_Cat.NEGATED, "ruled out")
    if _ELIMINATING_BEFORE.search(before):
        return _Reading(_Cat.NEGATED, "ruled out")
    if match := _EXPLICIT_BEFORE.search(before):
        return _Reading(_Cat.EXPLICIT, f"after '{match.group().strip()}'")
    if _EXPLICIT_AFTER.match(after):
        return _Reading(_Cat.EXPLICIT, "called correct")
    if match := _CHOOSING_BEFORE.search(before):
        return _Reading(_Cat.EXPLICIT, f"after '{match.group().strip()}'")
    if _is_new(text[start:end], original):
        return _Reading(_Cat.DECODED, "inside encoded text")
    if match := _SOFT_BEFORE.search(before):
        return _Reading(_Cat.FRAMED, f"after '{match.group().strip()}'")
    if _answers_the_prompt(after, ctx):
        return _Reading(_Cat.FRAMED, "followed by the prompt's own question words")
    return _Reading(_Cat.MENTIONED, "mentioned")


def _answers_the_prompt(after: str, ctx: _Context) -> bool:
    """The words right after an option (up to the clause end) repeat at least two content words
    of the prompt: 'u most often follows q' for 'which character most often follows q?'."""
    clause = re.split(r"[.!?;,:\n]", after, maxsplit=1)[0]
    words = [w for w in _WORD.findall(clause)[:6] if w not in _STOP_WORDS and len(w) > 1]
    return sum(1 for w in words if _stem(w) in ctx.prompt_stems) >= 2


def _token_hits(text: str, token: str) -> Iterator[tuple[int, int]]:
    """One-word options ('u', 'n'): an occurrence counts when it is quoted, ends a clause, or
    follows a frame. 'a', 'i', 'o' and 'y' are words of their own (English, French, Spanish), so
    unquoted they count only at a clause end or after 'letter'/'character'."""
    for match in _phrase_pattern(token).finditer(text):
        start, end = match.span()
        prev_char = text[start - 1] if start else ""
        next_char = text[end] if end < len(text) else ""
        quoted = prev_char in _QUOTE_CHARS or next_char in _QUOTE_CHARS
        quoted = quoted or (prev_char == "'" and not text[start - 2 : start - 1].isalpha())
        if not quoted and (
            prev_char == "." or (next_char == "." and text[end + 1 : end + 2].isalpha())
        ):
            continue  # "e.g.", "i.e.": abbreviations, not letters on their own
        before, after = _windows(text, start, end)
        ends_clause = bool(_CLAUSE_END.match(after)) and next_char != "'"
        if token in _AMBIGUOUS_LETTERS:
            framed = bool(_LETTER_NOUNS.search(before))
        else:
            framed = bool(
                _EXPLICIT_BEFORE.search(before)
                or _SOFT_BEFORE.search(before)
                or _CHOOSING_BEFORE.search(before)
                or _NEGATED_BEFORE.search(before)
                or _ELIMINATING_BEFORE.search(before)
                or _EXPLICIT_AFTER.match(after)
                or _NEGATED_AFTER.match(after)
            )
        if quoted or ends_clause or framed:
            yield start, end


def _option_hits(text: str, ctx: _Context, original: str | None) -> list[_OptionHit]:
    hits: list[_OptionHit] = []
    options = ctx.exercise.options
    mapped = _PlainMap.of(text)
    plain = mapped.text
    mentions = _mentions(text)

    def in_text(index: int, reading: _Reading, start: int, end: int) -> None:
        hits.append(_OptionHit(index, reading, mapped.at(start), mapped.at(end)))

    for index, option in enumerate(options):
        try:
            number: float | None = parse_number(option.text)
        except AnswerInvalid:
            number = None
        if number is not None:
            for mention in mentions:
                if _matches(mention, number, 0.0):
                    reading = _read_number(text, mention, ctx, original)
                    in_text(index, reading, mention.start, mention.end)
            continue
        phrase = _phrase(option.text)
        if not phrase:
            continue
        if " " not in phrase:
            for start, end in _token_hits(text, phrase):
                in_text(index, _read_option(text, start, end, ctx, original), start, end)
        else:
            for match in _phrase_pattern(phrase).finditer(plain):
                reading = _read_option(plain, match.start(), match.end(), ctx, original)
                hits.append(_OptionHit(index, reading, match.start(), match.end()))
    for match in _INDEX_REFERENCE.finditer(plain):
        referenced = _reference_index(match, len(options))
        if referenced is not None:
            reading = _read_option(plain, match.start(), match.end(), ctx, original)
            hits.append(_OptionHit(referenced, reading, match.start(), match.end()))
    hits = [hit for hit in hits if hit.reading.cat is not _Cat.IGNORED]
    # "at most s" inside "at most s/2" is the longer option, not both.
    hits = [
        hit
        for hit in hits
        if not any(
            other.option != hit.option
            and other.start <= hit.start
            and hit.end <= other.end
            and other.end - other.start > hit.end - hit.start
            for other in hits
        )
    ]
    return _mark_lists(plain, hits)


def _reference_index(match: re.Match[str], count: int) -> int | None:
    ordinal = _ORDINALS.get(match["ordinal"] or "")
    label = match["label"] or match["paren"]
    index: int
    if label:
        index = int(label) - 1 if label.isdigit() else _LETTER_LABELS.index(label)
    elif ordinal is not None:
        index = count - 1 if ordinal < 0 else ordinal
    else:
        return None
    return index if 0 <= index < count else None


_LIST_GAP = re.compile(
    r"^[\s`'\"*()\[\],/;:.-]*(?:or|and|nor|ou|et|oder|und|o|y|vs\.?|versus)?[\s`'\"*()\[\],/;:.-]*$"
)
_LIST_GAP_LIMIT = 12


def _mark_lists(plain: str, hits: list[_OptionHit]) -> list[_OptionHit]:
    """Options listed together ('a, n or b') are restated, not identified: a hit next to a hit
    of another option, with only punctuation or a conjunction between, reads as MENTIONED."""
    marked: list[_OptionHit] = []
    for hit in hits:
        listed = False
        for other in hits:
            if other.option == hit.option:
                continue
            if other.start >= hit.end:
                gap = plain[hit.end : other.start]
            else:
                gap = plain[other.end : hit.start]
            if len(gap) <= _LIST_GAP_LIMIT and _LIST_GAP.match(gap):
                listed = True
                break
        if listed and hit.reading.cat in (_Cat.EXPLICIT, _Cat.FRAMED, _Cat.DECODED):
            hit = _OptionHit(hit.option, _Reading(_Cat.MENTIONED, "listed"), hit.start, hit.end)
        marked.append(hit)
    return marked


def _choice_signal(text: str, ctx: _Context, original: str | None) -> _Signal | None:
    options = ctx.exercise.options
    correct = {i for i, o in enumerate(options) if o.correct}
    wrong = set(range(len(options))) - correct
    if not correct:
        return None
    hits = _option_hits(text, ctx, original)
    correct_hits = [h for h in hits if h.option in correct and h.reading.cat is not _Cat.NEGATED]
    strongest = max(correct_hits, key=lambda h: h.reading.cat.value, default=None)
    label = ", ".join(_option_label(i, options[i].text) for i in sorted(correct))
    if strongest and strongest.reading.cat is _Cat.EXPLICIT:
        return _Signal(
            "multiple choice",
            EXPLICIT_SCORE,
            f"names {label} as the answer ({strongest.reading.why})",
        )
    if strongest and strongest.reading.cat is _Cat.DECODED:
        return _Signal("multiple choice", DECODED_SCORE, f"names {label} in encoded text")
    if strongest and strongest.reading.cat is _Cat.FRAMED:
        return _Signal(
            "multiple choice", FRAMED_SCORE, f"presents {label} ({strongest.reading.why})"
        )
    eliminated = {h.option for h in hits if h.option in wrong and h.reading.cat is _Cat.NEGATED}
    wrong_mentioned = {h.option for h in hits if h.option in wrong}
    if wrong and eliminated == wrong:
        return _Signal(
            "multiple choice", ELIMINATED_SCORE, f"rules out every wrong option, leaving {label}"
        )
    if correct_hits and not wrong_mentioned:
        return _Signal("multiple choice", SINGLED_OUT_SCORE, f"mentions only {label}")
    if correct_hits and wrong_mentioned == eliminated:
        return _Signal(
            "multiple choice", OTHERS_RULED_OUT_SCORE, f"mentions {label} and rules the others out"
        )
    if eliminated:
        share = len(eliminated) / len(wrong)
        return _Signal(
            "multiple choice",
            PARTLY_ELIMINATED_SCORE * share,
            f"rules out {len(eliminated)} of {len(wrong)} wrong options",
        )
    return None


def _option_label(index: int, text: str) -> str:
    return f"option {_LETTER_LABELS[index].upper() if index < 8 else index + 1} ('{text}')"


# Worked-solution overlap ------------------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
_PROSE_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+(?:'[^\W\d_]+)?")


def _content_tokens(text: str) -> list[str]:
    prose = _FENCE.sub(" ", _fold(text))
    return [_stem(token) for token in _PROSE_TOKEN.findall(prose) if token not in _STOP_WORDS]


def _ngrams(tokens: Sequence[str], size: int = NGRAM_SIZE) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def _ramp(value: float, points: tuple[float, float, float]) -> float:
    low, middle, high = points
    if value <= low:
        return 0.0
    if value < middle:
        return 0.5 * (value - low) / (middle - low)
    if value < high:
        return 0.5 + 0.5 * (value - middle) / (high - middle)
    return 1.0


def _solution_grams(exercise: ExerciseSpec) -> set[tuple[str, ...]]:
    visible = _ngrams(_content_tokens(exercise.prompt))
    for text in [*exercise.hints, *(o.text for o in exercise.options)]:
        visible |= _ngrams(_content_tokens(text))
    return _ngrams(_content_tokens(exercise.solution)) - visible


def _overlap_signal(text: str, solution: set[tuple[str, ...]]) -> _Signal | None:
    if not solution:
        return None
    matched = solution & _ngrams(_content_tokens(text))
    if not matched:
        return None
    share = len(matched) / len(solution)
    score = max(_ramp(share, NGRAM_SHARE_RAMP), _ramp(len(matched), NGRAM_COUNT_RAMP))
    if len(matched) < min(NGRAM_MIN_MATCHES, len(solution)):
        score = min(score, NGRAM_FEW_MATCHES_CAP)
    example = " ".join(sorted(matched)[0])
    return _Signal(
        "solution overlap",
        score,
        f"{len(matched)} of the solution's {len(solution)} distinctive word 3-grams"
        f" ({share:.0%}), e.g. '{example}'",
    )


# Code similarity ---------------------------------------------------------------------------------

_CODE_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d+)?|\*\*|//|[-+*/%=<>!]=|->|[^\s\w]")
_CODE_LINE = re.compile(
    r"^\s*(?:def\s+\w+\s*\(|class\s+\w+|return\b|import\s+\w|from\s+[\w.]+\s+import\b|"
    r"for\s+.+\s+in\s+.+:\s*$|while\s+.+:\s*$|if\s+.+:\s*$|elif\s+.+:\s*$|else\s*:|try\s*:|"
    r"except\b.*:\s*$|with\s+.+:\s*$|print\s*\()"
    r"|^\s*[A-Za-z_][\w.]*(?:\[[^\]]*\])*\s*(?:[-+*/%]|\*\*|//)?=(?!=)\s*\S"
    r"|[A-Za-z_]\w*\.[A-Za-z_]\w*\s*\("
)
_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def _code_tokens(code: str) -> list[str]:
    without_comments = re.sub(r"#[^\n]*", " ", code)
    return [t.replace('"', "'") for t in _CODE_TOKEN.findall(without_comments)]


def _solution_code(solution: str) -> list[str]:
    tokens: list[str] = []
    for match in _FENCE.finditer(solution):
        tokens += [*_code_tokens(match[2]), "\n"]
    return tokens


def _reply_code(reply: str) -> list[str]:
    """Fenced blocks, then code-like lines and inline spans outside them."""
    tokens: list[str] = []
    for match in _FENCE.finditer(reply):
        tokens += [*_code_tokens(match[2]), "\n"]
    rest = _FENCE.sub("\n", reply)
    for line in rest.splitlines():
        if _CODE_LINE.search(line) and not _INLINE_CODE.search(line):
            tokens += [*_code_tokens(line), "\n"]
        else:
            for span in _INLINE_CODE.findall(line):
                span_tokens = _code_tokens(span)
                if len(span_tokens) >= CODE_MIN_RUN and re.search(r"[=(.\[]", span):
                    tokens += [*span_tokens, "\n"]
    return tokens


def _code_signal(reply: str, solution_code: list[str]) -> _Signal | None:
    if len([t for t in solution_code if t != "\n"]) < CODE_MIN_TOKENS:
        return None
    code = _reply_code(reply)
    if not code:
        return None
    matcher = difflib.SequenceMatcher(None, code, solution_code, autojunk=False)
    ratio = matcher.ratio()
    covered = sum(b.size for b in matcher.get_matching_blocks() if b.size >= CODE_MIN_RUN)
    coverage = covered / len(solution_code)
    similarity = max(ratio, coverage)
    score = _ramp(similarity, CODE_RAMP)
    if not score:
        return None
    return _Signal(
        "code similarity",
        score,
        f"reply code is {ratio:.0%} similar to the solution's and covers {coverage:.0%} of it",
    )


# ---------------------------------------------------------------------------------------------
# Evasions: text the reply encodes, decoded


_BASE64 = re.compile(
    r"(?<![A-Za-z0-9+/=_-])(?:[A-Za-z0-9+/_-]{4,}={0,2}|[A-Za-z0-9+/]{2,3}={1,2})"
    r"(?![A-Za-z0-9+/=_-])"
)
_SEGMENT = re.compile(r"(?<=[.!?:;])[ \t]+|\n+")
_SPACED = re.compile(
    r"(?<![^\W_])[^\W_](?:(?: ?[-.\u00b7_*/|] ?| )[^\W_]){2,}(?![^\W_])"
    r"|(?<![\w.])\d(?: \. ?| ?\. )\d(?![\w.])"
)


@functools.lru_cache(maxsize=8192)  # a streamed reply's words are decoded again at each flush
def _decode_base64(token: str) -> str | None:
    body = token.rstrip("=")
    if not re.search(r"[A-Z0-9+/=]", token) or len(body) % 4 == 1:
        return None  # lower-case words are words, not base64
    padded = body + "=" * (-len(body) % 4)
    try:
        raw = (
            base64.urlsafe_b64decode(padded)
            if re.search(r"[-_]", body)
            else base64.b64decode(padded, validate=True)
        )
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if not decoded.strip() or not all(ch.isprintable() or ch in "\n\t\r" for ch in decoded):
        return None
    if not any(ch.isalnum() for ch in decoded):
        return None
    return decoded


def _base64_texts(reply: str, depth: int = 2) -> list[str]:
    found: list[str] = []
    for match in _BASE64.finditer(reply):
        decoded = _decode_base64(match.group())
        if decoded is None:
            continue
        found.append(decoded)
        if depth > 1:
            found += _base64_texts(decoded, depth - 1)
    return found


def _readable(text: str) -> tuple[int, int]:
    """(common words, words) in the text; single letters say nothing about a language."""
    words = [word for word in _WORD.findall(_fold(text)) if len(word) > 1]
    return sum(1 for w in words if w in _LEXICON), len(words)


def _segments(reply: str) -> list[str]:
    return [s for s in _SEGMENT.split(reply) if s.strip()]


def _reverse(text: str) -> str:
    return text[::-1]


def _reverse_words(text: str) -> str:
    return " ".join(word[::-1] for word in text.split())


def _rot13(text: str) -> str:
    return codecs.encode(text, "rot13")


def _collapse_spaced(reply: str) -> str:
    """Spaced-out letters and digits ('t h r e e', '0 . 5') joined back into words."""
    words: list[str] = []
    for match in _SPACED.finditer(_fold(reply)):
        span = re.sub(r"(?<=\d) ?\. ?(?=\d)", ".", match.group())
        words.append(re.sub(r"[^\w.]|_", "", span))
    return " ".join(words)


_TRANSFORMS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("rot13", _rot13),
    ("reversed text", _reverse),
    ("reversed words", _reverse_words),
)


@functools.lru_cache(maxsize=2048)  # the sentences of the replies being written now
def _segment_readings(segment: str) -> tuple[str | None, ...]:
    """Per transform, the segment decoded by it when that reads better than the segment, else
    None. Cached: a streamed reply is checked at every flush, and all its segments but the
    last are the same as at the flush before."""
    hits, _ = _readable(segment)
    found: list[str | None] = []
    for _, transform in _TRANSFORMS:
        candidate = transform(segment)
        better, total = _readable(candidate)
        found.append(candidate if better >= 1 and better > hits and better >= 0.3 * total else None)
    return tuple(found)


def _variants(reply: str) -> Iterator[tuple[str, str]]:
    """(encoding, decoded text) for each encoding the reply appears to use."""
    if texts := _base64_texts(reply):
        yield "base64", "\n".join(texts)
    readings = [_segment_readings(segment) for segment in _segments(reply)]
    for n, (label, _) in enumerate(_TRANSFORMS):
        decoded = [text for found in readings if (text := found[n]) is not None]
        if decoded:
            yield label, "\n".join(decoded)
    if spaced := _collapse_spaced(reply):
        yield "spaced letters", spaced


# ---------------------------------------------------------------------------------------------
# The guard


def _signals(text: str, ctx: _Context, original: str | None) -> list[_Signal]:
    """The signals on `text`: the reply itself (original None) or one of its decoded forms."""
    exercise = ctx.exercise
    folded = _fold(text)
    found: list[_Signal | None] = []
    if exercise.kind == "numeric" and exercise.answer is not None:
        found.append(
            _numeric_signal(
                "numeric answer",
                folded,
                float(exercise.answer),
                exercise.tolerance,
                ctx,
                original,
            )
        )
    if exercise.kind == "short_answer":
        found.append(_accepted_signal(folded, ctx, original))
    if exercise.kind == "multiple_choice":
        found.append(_choice_signal(folded, ctx, original))
    found.append(_overlap_signal(text, ctx.solution_grams))
    found.append(_code_signal(text, ctx.solution_code))
    return [s for s in found if s is not None and s.score > 0]


def check_reply(reply: str, exercise: ExerciseSpec, *, solution_unlocked: bool) -> GuardVerdict:
    """Score a finished TA reply against a locked exercise; see the module docstring."""
    if solution_unlocked:
        return GuardVerdict(False, 0.0, ["solution unlocked: the answer may be discussed"])
    return ReplyGuard(exercise).check(reply, solution_unlocked=False)


class ReplyGuard:
    """`check_reply` for one exercise, with the exercise's side (what its prompt asks and
    states, its hints, its solution's word sequences and code) read once: a streamed reply is
    checked at every flush, and reading the exercise was half the time of each check."""

    def __init__(self, exercise: ExerciseSpec) -> None:
        self.exercise = exercise
        self._context = _context(exercise)

    def check(self, reply: str, *, solution_unlocked: bool) -> GuardVerdict:
        if solution_unlocked:
            return GuardVerdict(False, 0.0, ["solution unlocked: the answer may be discussed"])
        return _verdict(reply, self._context)


def _verdict(reply: str, ctx: _Context) -> GuardVerdict:
    best: dict[str, tuple[float, str]] = {}
    original = _plain(_fold(reply))
    readings: list[tuple[str, str, str | None]] = [("", reply, None)]
    readings += [(label, text, original) for label, text in _variants(reply)]
    for label, text, source in readings:
        for signal in _signals(text, ctx, source):
            reason = f"{signal.name}: {signal.reason}"
            if label:
                reason += f" [after decoding {label}]"
            if signal.name not in best or signal.score > best[signal.name][0]:
                best[signal.name] = (signal.score, reason)
    remaining = 1.0
    for score, _ in best.values():
        remaining *= 1.0 - min(1.0, score)
    score = round(1.0 - remaining, 4)
    reasons = [
        f"{reason} -> {value:.2f}"
        for value, reason in sorted(best.values(), key=lambda item: -item[0])
    ]
    return GuardVerdict(score >= THRESHOLD, score, reasons)


_NUDGES = {
    "numeric": (
        "Let's keep the number for after you've had a go. What would you compute first, and "
        "how? Walk me through your working, even a rough guess, and I'll tell you where it "
        "holds up and where it doesn't."
    ),
    "multiple_choice": (
        "I won't pick an option for you before you've tried. Which option would you rule out "
        "first, and why? Tell me your reasoning and we'll test it together."
    ),
    "short_answer": (
        "Try putting it in your own words first: what is happening in this step, and what "
        "would you call it? Write your answer, and once you've tried we can look at the worked "
        "solution together."
    ),
}
_DEFAULT_NUDGE = (
    "Let's work through this together rather than me giving it away. What have you tried so "
    "far, and where did you get stuck?"
)


def safe_replacement(exercise: ExerciseSpec, hints_revealed: int) -> str:
    """What the student sees instead of a tripped reply: the next authored hint the student has
    not seen yet, else a Socratic nudge that names no answer. Authored hints come first, as the
    TA policy says; the solution unlocks after an attempt or the last hint, never here."""
    hints = [hint.strip() for hint in exercise.hints if hint.strip()]
    index = max(0, hints_revealed)
    if index < len(hints):
        return (
            "I can't give you the answer before you've had a go, but here is a hint:\n\n"
            f"{hints[index]}\n\nTry it and tell me what you get."
        )
    return _NUDGES.get(exercise.kind, _DEFAULT_NUDGE)
