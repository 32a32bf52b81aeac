"""nanochat's tokenizer, chat rendering and calculator tool.

Text is always encoded as ordinary text: a special token's spelling typed by a user becomes plain
tokens, never a control token. Conversations render exactly as nanochat's `render_conversation`.
"""

from __future__ import annotations

import ast
import operator
import pickle  # only through _TokenizerUnpickler, which allows one class  # nosec B403
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import tiktoken

SPECIAL_TOKENS = (
    "<|bos|>",
    "<|user_start|>",
    "<|user_end|>",
    "<|assistant_start|>",
    "<|assistant_end|>",
    "<|python_start|>",
    "<|python_end|>",
    "<|output_start|>",
    "<|output_end|>",
)


class ConversationError(ValueError):
    """The messages cannot be rendered as a nanochat conversation."""

    def __init__(self, message: str, param: str = "messages") -> None:
        super().__init__(message)
        self.param = param


class _EncodingState:
    """Stands in for tiktoken's Encoding while unpickling, keeping only its plain-data state."""

    state: dict[str, Any]

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.state = state


class _TokenizerUnpickler(pickle.Unpickler):
    # tokenizer.pkl is a pickled tiktoken Encoding. Only that class may be named, so a tampered
    # file cannot run code while it is read.
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("tiktoken.core", "Encoding"):
            return _EncodingState
        raise pickle.UnpicklingError(
            f"tokenizer.pkl refers to {module}.{name}, which is not allowed"
        )


class Tokenizer:
    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self.encoding = encoding
        self.special: dict[str, int] = {}
        for name in SPECIAL_TOKENS:
            token_id = encoding._special_tokens.get(name)
            if token_id is None:
                raise ValueError(f"tokenizer has no special token {name}")
            self.special[name] = token_id
        self.bos = self.special["<|bos|>"]
        self.user_start = self.special["<|user_start|>"]
        self.user_end = self.special["<|user_end|>"]
        self.assistant_start = self.special["<|assistant_start|>"]
        self.assistant_end = self.special["<|assistant_end|>"]
        self.python_start = self.special["<|python_start|>"]
        self.python_end = self.special["<|python_end|>"]
        self.output_start = self.special["<|output_start|>"]
        self.output_end = self.special["<|output_end|>"]
        self.n_vocab = encoding.n_vocab
        self._special_ids = frozenset(self.special.values())

    @classmethod
    def load(cls, path: Path | str) -> Tokenizer:
        with open(path, "rb") as f:
            obj = _TokenizerUnpickler(f).load()
        if not isinstance(obj, _EncodingState) or not isinstance(obj.state, dict):
            raise ValueError(f"{path} is not a pickled tiktoken Encoding")
        s = obj.state
        encoding = tiktoken.Encoding(
            name=s["name"],
            pat_str=s["pat_str"],
            mergeable_ranks=s["mergeable_ranks"],
            special_tokens=s["special_tokens"],
        )
        return cls(encoding)

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def token_bytes(self, token_id: int) -> bytes:
        """A token's bytes; a special token gives its spelling."""
        return self.encoding.decode_single_token_bytes(token_id)

    def decode(self, ids: Sequence[int]) -> str:
        return b"".join(self.token_bytes(t) for t in ids).decode("utf-8", errors="replace")

    def is_special(self, token_id: int) -> bool:
        return token_id in self._special_ids

    def encode_text_prompt(self, text: str) -> list[int]:
        """A raw-text prompt as nanochat feeds one: BOS, then the text."""
        return [self.bos, *self.encode(text)]

    def render_for_completion(self, messages: Sequence[dict[str, Any]]) -> list[int]:
        """Prompt ids for the assistant's next turn.

        A leading system message is merged into the first user message as
        `system + "\\n\\n" + user`; then roles strictly alternate, starting and ending with user.
        """
        if not messages:
            raise ConversationError("messages must not be empty")
        msgs = [_message(m, i) for i, m in enumerate(messages)]
        if msgs[0][0] == "system":
            if len(msgs) < 2 or msgs[1][0] != "user":
                raise ConversationError("a system message must be followed by a user message")
            msgs = [("user", _text(msgs[0][1]) + "\n\n" + _text(msgs[1][1])), *msgs[2:]]
        for i, (role, _) in enumerate(msgs):
            expected = "user" if i % 2 == 0 else "assistant"
            if role != expected:
                raise ConversationError(
                    f"roles must alternate user/assistant starting with user (after an optional "
                    f"leading system message); message {i + (len(messages) - len(msgs))} is "
                    f"{role!r} where {expected!r} was expected"
                )
        if msgs[-1][0] != "user":
            raise ConversationError("the last message must be from the user")
        ids = [self.bos]
        for role, content in msgs:
            if role == "user":
                ids += [self.user_start, *self.encode(_text(content)), self.user_end]
            else:
                ids.append(self.assistant_start)
                for kind, text in _assistant_parts(content):
                    body = self.encode(text)
                    if kind == "python":
                        ids += [self.python_start, *body, self.python_end]
                    elif kind == "python_output":
                        ids += [self.output_start, *body, self.output_end]
                    else:
                        ids += body
                ids.append(self.assistant_end)
        ids.append(self.assistant_start)
        return ids


def _message(message: Any, index: int) -> tuple[str, Any]:
    if not isinstance(message, dict):
        raise ConversationError(f"messages[{index}] must be an object", f"messages[{index}]")
    role = message.get("role")
    if role not in ("system", "user", "assistant"):
        raise ConversationError(
            f"messages[{index}].role must be 'system', 'user' or 'assistant', not {role!r}",
            f"messages[{index}].role",
        )
    if role == "system" and index != 0:
        raise ConversationError(
            f"a system message is only allowed first; messages[{index}] is one",
            f"messages[{index}].role",
        )
    content = message.get("content")
    if isinstance(content, str):
        return role, content
    if isinstance(content, list):
        # Assistant turns may also carry nanochat's "python" and "python_output" parts.
        kinds = ("text", "python", "python_output") if role == "assistant" else ("text",)
        for j, part in enumerate(content):
            if not (
                isinstance(part, dict)
                and isinstance(part.get("text"), str)
                and part.get("type", "text") in kinds
            ):
                raise ConversationError(
                    f"messages[{index}].content[{j}] must be a part of type "
                    + " or ".join(repr(k) for k in kinds)
                    + " with a string 'text'",
                    f"messages[{index}].content",
                )
        return role, content
    raise ConversationError(
        f"messages[{index}].content must be a string or a list of text parts",
        f"messages[{index}].content",
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part["text"] for part in content)


# Assistant turns round-trip the tool markers the worker emits for calculator calls, so a client
# that sends its history back gives the model the same tokens it produced. User text never does.
_TOOL_SPANS = re.compile(
    r"<\|python_start\|>(.*?)<\|python_end\|>|<\|output_start\|>(.*?)<\|output_end\|>", re.S
)


def _assistant_parts(content: Any) -> list[tuple[str, str]]:
    if isinstance(content, list):
        return [(part.get("type", "text"), part["text"]) for part in content]
    parts = []
    pos = 0
    for match in _TOOL_SPANS.finditer(content):
        if match.start() > pos:
            parts.append(("text", content[pos : match.start()]))
        if match.group(1) is not None:
            parts.append(("python", match.group(1)))
        else:
            parts.append(("python_output", match.group(2)))
        pos = match.end()
    if pos < len(content) or not parts:
        parts.append(("text", content[pos:]))
    return parts


# --- calculator -----------------------------------------------------------------------------

_MAX_EXPRESSION = 200
_MAX_MAGNITUDE = 10**60

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class _Refused(Exception):
    pass


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, str):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if not all(type(v) in (int, float) for v in (left, right)):
            raise _Refused
        result = _BINARY[type(node.op)](left, right)
        if abs(result) > _MAX_MAGNITUDE:
            raise _Refused
        return result
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        value = _evaluate(node.operand)
        if type(value) not in (int, float):
            raise _Refused
        return _UNARY[type(node.op)](value)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "count"
        and len(node.args) == 1
        and not node.keywords
    ):
        subject, needle = _evaluate(node.func.value), _evaluate(node.args[0])
        if isinstance(subject, str) and isinstance(needle, str):
            return subject.count(needle)
    raise _Refused


def calculate(expression: str) -> str | None:
    """The calculator tool nanochat models call: arithmetic, or `"text".count("x")`.

    Follows nanochat's rules (commas in numbers ignored; + - * / // and parentheses; no powers)
    with a parser instead of `eval`. Returns the result as Python prints it, or None when the
    expression is not one the tool accepts.
    """
    expression = expression.replace(",", "").strip()
    if not expression or len(expression) > _MAX_EXPRESSION or "**" in expression:
        return None
    try:
        tree = ast.parse(expression, mode="eval")
        return str(_evaluate(tree))
    except (_Refused, SyntaxError, ZeroDivisionError, OverflowError, ValueError, RecursionError):
        return None
