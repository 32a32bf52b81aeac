"""Every number in LLM101n's worked examples and answer keys, computed here independently.

The course states its data (a toy corpus of names, small vectors, model sizes); these tests
recompute every answer key and the numbers the worked examples show, and compare them with what
the course files say. A wrong key, or a numeric exercise that nobody computed, fails the suite.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from functools import cache

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.content.course import all_items, course, item, step

# ---------------------------------------------------------------------------------------------
# Checking helpers


def fmt(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def assert_shows(text: str, value: float, digits: int) -> None:
    """The text shows `value` rounded to `digits` decimals (or, for digits=0, as a whole number,
    with or without thousands separators)."""
    if digits == 0:
        whole = round(value)
        candidates = {f"{whole}", f"{whole:,}"}
        assert any(re.search(rf"(?<![\d.,]){re.escape(c)}(?![\d])", text) for c in candidates), (
            f"{whole:,} not shown in:\n{text[:400]}"
        )
        return
    shown = fmt(value, digits)
    assert re.search(rf"(?<![\d]){re.escape(shown)}", text), f"{shown} not shown in:\n{text[:400]}"


def plain(text: str) -> str:
    """Course text with its typographic multiplication and minus signs as ASCII x and -."""
    return text.replace("\u00d7", "x").replace("\u2212", "-")


def correct_option(step_slug: str, item_slug: str) -> str:
    options = [o for o in item(step_slug, item_slug).options if o.correct]
    assert len(options) == 1, f"{step_slug}/{item_slug} should have exactly one correct option"
    return plain(options[0].text)


def body(step_slug: str) -> str:
    return plain(step(step_slug).body)


def solution(step_slug: str, item_slug: str) -> str:
    return plain(item(step_slug, item_slug).solution)


# ---------------------------------------------------------------------------------------------
# Chapter 1: the bigram model on the toy corpus the chapter states

NAMES = ["anna", "ava", "bob", "ben", "nan"]
CORPUS_LINE = 'names = ["anna", "ava", "bob", "ben", "nan"]'


def bigrams(word: str) -> list[tuple[str, str]]:
    chars = "." + word + "."
    return list(itertools.pairwise(chars))


def bigram_counts(words: list[str]) -> Counter[tuple[str, str]]:
    return Counter(pair for word in words for pair in bigrams(word))


def vocabulary(words: list[str]) -> list[str]:
    return sorted(set("".join(words)) | {"."})


def bigram_probs(words: list[str], k: float = 0.0) -> dict[tuple[str, str], float]:
    counts = bigram_counts(words)
    vocab = vocabulary(words)
    probs = {}
    for first in vocab:
        total = sum(counts[(first, nxt)] for nxt in vocab) + k * len(vocab)
        for nxt in vocab:
            probs[(first, nxt)] = (counts[(first, nxt)] + k) / total
    return probs


def word_prob(word: str, probs: dict[tuple[str, str], float]) -> float:
    return math.prod(probs[pair] for pair in bigrams(word))


def average_nll(words: list[str], probs: dict[tuple[str, str], float]) -> float:
    losses = [-math.log(probs[pair]) for word in words for pair in bigrams(word)]
    return sum(losses) / len(losses)


def sample_step(probs: dict[tuple[str, str], float], vocab: list[str], current: str, u: float):
    """The character whose interval, in vocabulary order, holds the draw u."""
    total = 0.0
    for nxt in vocab:
        total += probs[(current, nxt)]
        if u < total:
            return nxt
    return vocab[-1]


def sample_with_draws(probs: dict[tuple[str, str], float], vocab: list[str], draws: list[float]):
    """A whole name, one draw per step, until the end marker comes out."""
    name, current = "", "."
    for u in draws:
        nxt = sample_step(probs, vocab, current, u)
        if nxt == ".":
            return name
        name += nxt
        current = nxt
    raise AssertionError("the draws ran out before the end marker")


P = bigram_probs(NAMES)
P1 = bigram_probs(NAMES, k=1)
VOCAB = vocabulary(NAMES)


def chapter1_numeric() -> dict[tuple[str, str], float]:
    counts = bigram_counts(NAMES)
    with_bo = bigram_probs([*NAMES, "bo"])
    return {
        ("counting-bigrams", "bigrams-in-olivia"): len(bigrams("olivia")),
        ("counting-bigrams", "table-size"): 27 * 27,
        ("counting-bigrams", "distinct-bigrams"): len(counts),
        ("counting-bigrams", "bigrams-in-cat"): len(bigrams("cat")),
        ("counts-to-probabilities", "p-v-after-a"): P[("a", "v")],
        ("counts-to-probabilities", "add-bo"): with_bo[("o", ".")],
        ("counts-to-probabilities", "sum-of-table"): sum(P.values()),
        ("counts-to-probabilities", "row-first-entry"): 3 / (3 + 1 + 0 + 4),
        ("likelihood", "p-ben"): word_prob("ben", P),
        ("likelihood", "bob-vs-uniform"): word_prob("bob", P) / (1 / 7) ** 4,
        ("likelihood", "corpus-likelihood"): math.prod(word_prob(n, P) for n in NAMES),
        ("likelihood", "three-step-likelihood"): 0.5 * 0.5 * 0.2,
        ("negative-log-likelihood", "nll-one-third"): -math.log(P[("b", "o")]),
        ("negative-log-likelihood", "corpus-nll"): average_nll(NAMES, P),
        ("negative-log-likelihood", "nll-certain"): -math.log(1.0),
        ("negative-log-likelihood", "nll-average-two"): -(math.log(0.5) + math.log(0.25)) / 2,
        ("smoothing", "smoothed-a-after-b"): P1[("b", "a")],
        ("smoothing", "eva-smoothed"): average_nll(["eva"], P1),
        ("smoothing", "corpus-smoothed"): average_nll(NAMES, P1),
        ("smoothing", "smooth-middle"): (0 + 1) / (3 + 0 + 1 + 3),
    }


def test_chapter1_states_its_corpus():
    for slug in [
        "counting-bigrams",
        "counts-to-probabilities",
        "sampling-names",
        "likelihood",
        "smoothing",
    ]:
        assert CORPUS_LINE in body(slug), slug


def test_counting_bigrams_numbers():
    counts = bigram_counts(NAMES)
    text = body("counting-bigrams")
    # The printed counts of `an`, `nn`, `.b`, `bo` and the number of pairs.
    shown = " ".join(str(counts[p]) for p in [("a", "n"), ("n", "n"), (".", "b"), ("b", "o")])
    assert f"```text\n{shown}\n{sum(counts.values())}\n```" in text
    # The three rows of the table the step shows.
    for first in [".", "a", "b"]:
        row = " | ".join(str(counts[(first, nxt)]) for nxt in VOCAB)
        assert f"| `{first}` | {row} |" in text
    # The answer key of the multiple-choice exercise.
    assert correct_option("counting-bigrams", "count-n-end") == str(counts[("n", ".")])
    assert f"21 - {sum(1 for c in counts.values() if c == 2)} = **15**" in solution(
        "counting-bigrams", "distinct-bigrams"
    )
    assert all(c in (1, 2) for c in counts.values())


def test_counts_to_probabilities_numbers():
    text = body("counts-to-probabilities")
    row = {nxt: P[(".", nxt)] for nxt in VOCAB}
    assert repr(VOCAB) in text
    assert repr(row) in text
    for nxt in "abn":
        assert_shows(text, P[(".", nxt)], 1)
    assert float(correct_option("counts-to-probabilities", "p-a-after-n")) == P[("n", "a")]
    assert P[("b", "o")] == P[("b", "e")] == P[("b", ".")] == pytest.approx(1 / 3)


def test_sampling_numbers():
    text = body("sampling-names")
    # Greedy choice with ties broken in vocabulary order writes only the name `a`.
    name, current = "", "."
    while True:
        current = max(VOCAB, key=lambda nxt, c=current: (P[(c, nxt)], -VOCAB.index(nxt)))
        if current == ".":
            break
        name += current
    assert name == "a"
    assert "the name `a`" in " ".join(text.split())
    # The worked example's draws, and the exercises' draws.
    assert sample_with_draws(P, VOCAB, [0.7, 0.5, 0.2, 0.1]) == "ben"
    assert "The name is `ben`." in text
    assert [sample_step(P, VOCAB, ".", u) for u in (0.3, 0.7)] == ["a", "b"]
    first = sample_step(P, VOCAB, ".", 0.85)
    assert first in item("sampling-names", "first-letter-u").accepted
    assert item("sampling-names", "name-from-draws").accepted == [
        sample_with_draws(P, VOCAB, [0.5, 0.9, 0.3, 0.2])
    ]
    expected_b = 1000 * P[(".", "b")]
    assert correct_option("sampling-names", "how-many-b") == f"about {expected_b:.0f}"
    # Only `nanna` has no zero-probability pair among the choices.
    can = {
        o.text: word_prob(o.text, P) > 0 for o in item("sampling-names", "which-can-appear").options
    }
    assert can == {o.text: o.correct for o in item("sampling-names", "which-can-appear").options}
    row = {"x": 0.5, "y": 0.3, "z": 0.2}
    total, picked = 0.0, None
    for char, p in row.items():
        total += p
        if total > 0.75:
            picked = char
            break
    assert item("sampling-names", "pick-from-row").accepted == [picked]


def test_likelihood_numbers():
    text = body("likelihood")
    ava = word_prob("ava", P)
    assert ava == pytest.approx(0.032)
    assert_shows(text, ava, 3)
    assert_shows(text, (1 / 7) ** 4, 6)
    assert f"about {round(ava / (1 / 7) ** 4)} times" in text
    assert "0.032\n0.000416\n76.8" in text
    assert round(ava / (1 / 7) ** 4, 1) == 76.8
    key = solution("likelihood", "corpus-likelihood")
    for name, digits in [("anna", 5), ("ava", 3), ("bob", 5), ("ben", 5), ("nan", 4)]:
        assert_shows(key, word_prob(name, P), digits)
    assert_shows(solution("likelihood", "bob-vs-uniform"), word_prob("bob", P), 5)


def test_negative_log_likelihood_numbers():
    text = body("negative-log-likelihood")
    losses = [-math.log(P[pair]) for pair in bigrams("ava")]
    assert losses[2] == 0 and "-\\ln 1 = 0" in text
    for loss in [losses[0], losses[1], losses[3]]:
        assert_shows(text, loss, 4)
    assert_shows(text, sum(losses), 4)
    assert_shows(text, sum(losses) / len(losses), 4)
    assert "3.442 0.8605\n0.032" in text
    assert 0.2**500 == 0.0
    assert "print(0.2 ** 500)\n```\n\n```text\n0.0\n```" in text
    exponent = 500 * math.log10(0.2)  # 0.2**500 = mantissa x 10**floor(exponent)
    assert math.floor(exponent) == -350 and 3 <= 10 ** (exponent - math.floor(exponent)) < 4
    assert "about $3 \\times 10^{-350}$" in text
    assert correct_option("negative-log-likelihood", "uniform-nll") == (
        f"ln 7, about {math.log(7):.4f}"
    )
    options = item("negative-log-likelihood", "uniform-nll").options
    assert [plain(o.text) for o in options[1:]] == [
        f"1/7, about {1 / 7:.4f}",
        f"-ln 7, about -{math.log(7):.4f}",
        f"log10 of 7, about {math.log10(7):.4f}",
    ]
    corpus = math.prod(word_prob(n, P) for n in NAMES)
    assert_shows(solution("negative-log-likelihood", "corpus-nll"), -math.log(corpus), 4)
    assert P[(".", "e")] == 0  # so `eva` has an infinite loss
    assert "infinity" in item("negative-log-likelihood", "nll-of-eva").accepted


def test_smoothing_numbers():
    text = body("smoothing")
    assert P1[("a", ".")] == P1[("a", "n")] == pytest.approx(0.25)
    assert_shows(text, P1[("a", "v")], 4)
    assert_shows(text, P1[("a", "e")], 4)
    assert_shows(text, average_nll(["ava"], P1), 4)
    assert_shows(text, average_nll(["ava"], P), 4)
    assert "0.25 0.0833\n1.4877\n0.0" in text
    key = solution("smoothing", "eva-smoothed")
    losses = [-math.log(P1[pair]) for pair in bigrams("eva")]
    for loss in losses:
        assert_shows(key, loss, 4)
    assert_shows(key, sum(losses), 4)
    assert_shows(solution("smoothing", "corpus-smoothed"), average_nll(NAMES, P), 4)
    assert P1[("b", "a")] == pytest.approx(0.1) and P1[("b", "o")] == pytest.approx(0.2)
    assert "2/10 = 0.2" in solution("smoothing", "smoothed-a-after-b")
    # A huge pseudo-count makes every row close to uniform.
    huge = bigram_probs(NAMES, k=1e6)
    assert all(abs(p - 1 / 7) < 1e-5 for p in huge.values())
    assert "27 x 27 = 729" in text and f"({27**3:,} rows)" in text


# ---------------------------------------------------------------------------------------------
# Chapter 2: a tiny autograd of our own, written differently from the course's `Value`


class Node:
    """A scalar that records its parents with the local derivative along each edge."""

    def __init__(self, value: float, parents: tuple[tuple[Node, float], ...] = ()):
        self.value = value
        self.parents = parents
        self.grad = 0.0

    def __add__(self, other: Node | float) -> Node:
        other = other if isinstance(other, Node) else Node(other)
        return Node(self.value + other.value, ((self, 1.0), (other, 1.0)))

    __radd__ = __add__

    def __mul__(self, other: Node | float) -> Node:
        other = other if isinstance(other, Node) else Node(other)
        return Node(self.value * other.value, ((self, other.value), (other, self.value)))

    __rmul__ = __mul__

    def tanh(self) -> Node:
        t = math.tanh(self.value)
        return Node(t, ((self, 1 - t * t),))


def graph_nodes(root: Node) -> list[Node]:
    """Every distinct node reachable from root, each after all of its parents (iteratively)."""
    order: list[Node] = []
    done: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((parent, False) for parent, _ in node.parents if id(parent) not in done)
    return order


def backprop(root: Node, accumulate: bool = True) -> None:
    """Reverse-mode differentiation. With accumulate=False each edge overwrites its parent's
    gradient, the bug one exercise asks about."""
    for node in graph_nodes(root):
        node.grad = 0.0
    root.grad = 1.0
    for node in reversed(graph_nodes(root)):
        for parent, local in node.parents:
            if accumulate:
                parent.grad += local * node.grad
            else:
                parent.grad = local * node.grad


def tree_size(root: Node) -> int:
    """Boxes in the expression drawn as a tree, copying shared sub-expressions."""
    return 1 + sum(tree_size(parent) for parent, _ in root.parents)


def quadratic(x: float) -> float:
    return 2 * x**2 - 5 * x + 3


def nudge(f, x: float, h: float) -> float:
    return (f(x + h) - f(x)) / h


def grad_of(build, *values: float) -> list[float]:
    leaves = [Node(v) for v in values]
    backprop(build(*leaves))
    return [leaf.grad for leaf in leaves]


def descend_one_param(w: float, lr: float, steps: int) -> list[tuple[float, float, float]]:
    """(w, loss, grad) before each step of gradient descent on (2w - 6)^2."""
    history = []
    for _ in range(steps):
        node = Node(w)
        error = node * 2.0 + -6.0
        loss = error * error
        backprop(loss)
        history.append((w, loss.value, node.grad))
        w -= lr * node.grad
    history.append((w, (2 * w - 6) ** 2, 0.0))
    return history


def line_fit_loss_after_step() -> float:
    points = [(1.0, 3.0), (2.0, 5.0)]
    w, b = Node(0.0), Node(0.0)
    loss = Node(0.0)
    for x, y in points:
        error = w * x + b + -y
        loss = loss + error * error
    backprop(loss)
    w_new, b_new = w.value - 0.01 * w.grad, b.value - 0.01 * b.grad
    return sum((w_new * x + b_new - y) ** 2 for x, y in points)


def chapter2_numeric() -> dict[tuple[str, str], float]:
    x3 = [3.0, -2.0, 4.0, 0.5]  # x, y, z, w of the chain-rule exercises

    def chain(x, y, z, w):
        return (x * y + z) * w

    def neuron(w, x, b):
        return (w * x + b).tanh()

    p = Node(2.0)
    q = p * p
    return {
        ("derivatives-by-nudging", "slope-of-square"): nudge(lambda x: x * x, 5.0, 0.001),
        ("derivatives-by-nudging", "partial-of-abb"): grad_of(lambda a, b: a * b * b, 3, 2)[1],
        ("derivatives-by-nudging", "loss-slope"): grad_of(
            lambda w: (3 * w + -6.0) * (3 * w + -6.0), 1
        )[0],
        ("derivatives-by-nudging", "slope-of-line"): grad_of(lambda x: 3 * x + 2, 10)[0],
        ("expression-graphs", "evaluate-graph"): (lambda x, y: x * y + x)(Node(3), Node(4)).value,
        ("expression-graphs", "nudging-cost"): (10_000 + 1) * 2 / 1000,
        ("expression-graphs", "shared-nodes"): len(graph_nodes(q * p + q)),
        ("expression-graphs", "forward-value"): (lambda a, b: a * b + b)(Node(5), Node(-2)).value,
        ("chain-rule-by-hand", "two-links"): grad_of(lambda x: 4 * (x + 7), 1)[0],
        ("chain-rule-by-hand", "grad-of-x"): grad_of(chain, *x3)[0],
        ("chain-rule-by-hand", "predict-change"): grad_of(chain, *x3)[0] * 0.01,
        ("chain-rule-by-hand", "chain-of-two"): grad_of(lambda v: 2 * (3 * v), 1)[0],
        ("backpropagation", "x-times-x-plus-x"): grad_of(lambda x: x * x + x, 3)[0],
        ("backpropagation", "tanh-neuron"): grad_of(neuron, 0.5, 2, -0.5)[0],
        ("backpropagation", "used-twice"): grad_of(lambda a, b: a * b + a, 2, 5)[0],
        ("gradient-descent", "one-update"): 2 - 0.1 * 4,
        ("gradient-descent", "loss-after-one-step"): descend_one_param(1.0, 0.1, 1)[-1][1],
        ("gradient-descent", "two-parameters"): line_fit_loss_after_step(),
        ("gradient-descent", "update-up"): 5 - 0.5 * -2,
    }


def test_derivatives_by_nudging_numbers():
    text = body("derivatives-by-nudging")
    assert quadratic(3) == 6
    assert_shows(text, quadratic(3.001), 6)
    assert_shows(text, nudge(quadratic, 3, 0.001), 3)
    assert f"{nudge(quadratic, 1, 0.001):.3f}" == "-0.998"
    assert grad_of(lambda a, b: a * b + b, 2, -3) == [-3, 3]
    assert "6\n7.002 -0.998\n-3.0 3.0" in text
    key = solution("derivatives-by-nudging", "negative-slope")
    assert_shows(key, quadratic(1.01), 4)
    assert abs(quadratic(1.01) - quadratic(1) - (-0.01)) < 0.001
    assert_shows(solution("derivatives-by-nudging", "slope-of-square"), 5.001**2, 6)
    assert_shows(solution("derivatives-by-nudging", "partial-of-abb"), 3 * 2.001**2, 6)
    assert_shows(solution("derivatives-by-nudging", "partial-of-abb"), nudge_b(), 3)
    key = solution("derivatives-by-nudging", "loss-slope")
    assert_shows(key, (3 * 1.0001 - 6) ** 2, 8)
    assert_shows(key, ((3 * 1.0001 - 6) ** 2 - 9) / 0.0001, 4)


def nudge_b() -> float:
    return nudge(lambda b: 3 * b * b, 2.0, 0.001)


def test_expression_graph_numbers():
    x, y = Node(3.0), Node(4.0)
    z = x * y + x
    assert correct_option("expression-graphs", "count-nodes") == str(len(graph_nodes(z)))
    p = Node(2.0)
    q = p * p
    r = q * p + q
    assert f"you would get\n{tree_size(r)} boxes" in solution("expression-graphs", "shared-nodes")
    assert "20,002 ms" in solution("expression-graphs", "nudging-cost")
    a, b, c = Node(2.0), Node(-3.0), Node(4.0)
    e = a * b + c
    assert (e.value, e.parents[0][0].value) == (-2.0, -6.0)
    assert len(graph_nodes(e)) == 5 and "Five nodes" in body("expression-graphs")


def test_chain_rule_numbers():
    text = body("chain-rule-by-hand")
    a, b, c, f = Node(2.0), Node(-3.0), Node(4.0), Node(5.0)
    d = a * b
    e = d + c
    loss = e * f
    backprop(loss)
    assert (d.value, e.value, loss.value) == (-6, -2, -10)
    lines = {
        line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| $")
    }
    for name, node in [("L", loss), ("e", e), ("f", f), ("d", d), ("c", c), ("a", a), ("b", b)]:
        assert lines[f"${name}$"].rstrip().endswith(f"{node.grad:g}$ |"), name
    assert "-10.0\na -15.0\nb 10.0\nc 5.0\nf -2.0" in text
    assert correct_option("chain-rule-by-hand", "grad-through-plus") == "0.5"
    assert grad_of(lambda x, y, z, w: (x * y + z) * w, 3, -2, 4, 0.5)[2] == 0.5
    assert pytest.approx(-1.01) == (3.01 * -2 + 4) * 0.5


def test_backpropagation_numbers():
    text = body("backpropagation")
    assert "-10.0 -15.0 10.0 5.0 -2.0" in text
    assert grad_of(lambda u: u * u, 4) == [8.0] and "```text\n8.0\n```" in text
    x = Node(3.0)
    loss = x * x + x
    backprop(loss, accumulate=False)
    assert correct_option("backpropagation", "assignment-bug") == f"{x.grad:g}"
    s = 0.5 * 2 - 0.5
    t = math.tanh(s)
    key = solution("backpropagation", "tanh-neuron")
    assert_shows(key, t, 4)
    assert_shows(key, 1 - t * t, 4)


def test_gradient_descent_numbers():
    text = body("gradient-descent")
    history = descend_one_param(1.0, 0.05, 20)
    printed = "\n".join(
        " ".join(str(round(v, 4)) for v in (i, *row)) for i, row in enumerate(history[:3])
    )
    assert printed in text
    assert f"{round(history[-1][0], 4)}\n```" in text
    assert history[1][:2] == pytest.approx((1.8, 5.76))
    # lr = 0.3 makes the loss grow at every step; lr = 0.05 makes it shrink.
    too_big = [loss for _, loss, _ in descend_one_param(1.0, 0.3, 10)]
    assert all(later > earlier for earlier, later in itertools.pairwise(too_big))
    assert pytest.approx(-1.4) == 1 - 0.3 * 8 and "-1.4" in solution(
        "gradient-descent", "learning-rate-too-big"
    )
    assert descend_one_param(1.0, 0.1, 1)[1][0] == pytest.approx(2.6)
    key = solution("gradient-descent", "two-parameters")
    for value in [0.42, 0.68, 2.58, 4.32, 2.58**2, 4.32**2]:
        assert_shows(key, value, 2 if value < 1 or value in (2.58, 4.32) else 4)


# ---------------------------------------------------------------------------------------------
# Chapter 3: tensors, matmul, logits, embeddings, GELU, the MLP (computed with torch)


def torch_grad(build, values: list[float]) -> list[float]:
    x = torch.tensor(values, requires_grad=True)
    build(x).backward()
    assert x.grad is not None
    return x.grad.tolist()


def gelu(x: float) -> float:
    return x * 0.5 * (1 + math.erf(x / math.sqrt(2)))


def mlp_params(vocab: int, block: int, d: int, hidden: int) -> int:
    modules = [nn.Embedding(vocab, d), nn.Linear(block * d, hidden), nn.Linear(hidden, vocab)]
    return sum(p.numel() for m in modules for p in m.parameters())


def context_examples(words: list[str], block: int) -> list[tuple[str, str]]:
    examples = []
    for word in words:
        context = "." * block
        for ch in word + ".":
            examples.append((context, ch))
            context = context[1:] + ch
    return examples


def nll_of_logits(logits: list[float], target: int) -> float:
    return F.cross_entropy(torch.tensor([logits]), torch.tensor([target])).item()


def chapter3_numeric() -> dict[tuple[str, str], float]:
    two_hot = torch.tensor([1.0, 0, 0, 1]) @ torch.tensor([[1.0, 2], [3, 4], [5, 6], [7, 8]])
    relu_between = torch.relu(torch.tensor([[1.0, 2]]) @ torch.tensor([[1.0, -1], [2, 0]]))
    return {
        ("tensors-and-autograd", "grad-of-sum-of-squares"): torch_grad(
            lambda x: (x * x).sum(), [2.0, 5.0]
        )[1],
        ("tensors-and-autograd", "sum-over-dim"): torch.zeros(5, 7).sum(dim=1).numel(),
        ("tensors-and-autograd", "grad-of-mean"): torch_grad(
            lambda x: ((x - 1) ** 2).mean(), [3.0, 0.0, 1.0, 2.0]
        )[0],
        ("tensors-and-autograd", "grad-of-scaled-sum"): torch_grad(
            lambda x: (3 * x).sum(), [1.0] * 5
        )[0],
        ("matrix-multiplication", "one-entry"): (
            torch.tensor([[2.0, 1], [0, 3]]) @ torch.tensor([[1.0, 4], [2, -1]])
        )[0, 1].item(),
        ("matrix-multiplication", "count-multiplications"): 32 * 200 * 10,
        ("matrix-multiplication", "two-hot"): two_hot[1].item(),
        ("matrix-multiplication", "dot-product"): (
            torch.tensor([[1.0, 2]]) @ torch.tensor([[3.0], [4]])
        ).item(),
        ("neural-bigram", "equal-logits"): torch.softmax(torch.zeros(4), 0)[0].item(),
        ("neural-bigram", "nll-from-logits"): nll_of_logits([2.0, 0.0, -1.0], 0),
        ("neural-bigram", "logit-for-ratio"): math.log(P[(".", "a")] / P[(".", "n")]),
        ("neural-bigram", "equal-pair"): torch.softmax(torch.tensor([5.0, 5.0]), 0)[0].item(),
        ("embeddings-and-context", "embedding-params"): nn.Embedding(27, 10).weight.numel(),
        ("embeddings-and-context", "input-width"): 8 * 16,
        ("embeddings-and-context", "examples-from-corpus"): len(context_examples(NAMES, 5)),
        ("embeddings-and-context", "embedding-table-size"): nn.Embedding(65, 32).weight.numel(),
        ("embeddings-and-context", "context-table-rows"): 27**3,
        ("nonlinearity-gelu", "relu-sum"): torch.relu(torch.tensor([-2.0, 0.5, 3.0])).sum().item(),
        ("nonlinearity-gelu", "gelu-of-two"): gelu(2.0),
        ("nonlinearity-gelu", "relu-between"): (relu_between @ torch.tensor([[3.0], [1]])).item(),
        ("nonlinearity-gelu", "gelu-negative"): gelu(-3.0),
        ("mlp-language-model", "hidden-layer-params"): sum(
            p.numel() for p in nn.Linear(30, 200).parameters()
        ),
        ("mlp-language-model", "total-params"): mlp_params(27, 4, 8, 100),
        ("mlp-language-model", "loss-at-init"): nll_of_logits([0.0] * 27, 5),
        ("mlp-language-model", "linear-layer-params"): sum(
            p.numel() for p in nn.Linear(10, 5).parameters()
        ),
    }


def test_tensor_numbers():
    assert torch_grad(lambda x: (x * x).sum(), [1.0, -2.0, 3.0]) == [2.0, -4.0, 6.0]
    key = solution("tensors-and-autograd", "grad-of-mean")
    assert str(torch_grad(lambda x: ((x - 1) ** 2).mean(), [3.0, 0.0, 1.0, 2.0])) in key
    assert "tensor([4., 10.])" in solution("tensors-and-autograd", "grad-of-sum-of-squares")


def test_matmul_numbers():
    a = torch.tensor([[1.0, 2, 3], [4, 5, 6]])
    b = torch.tensor([[1.0, 0], [0, 1], [1, 1]])
    product = a @ b
    assert product.tolist() == [[4, 5], [10, 11]]
    assert "\\begin{pmatrix} 4 & 5 \\\\ 10 & 11 \\end{pmatrix}" in body("matrix-multiplication")
    assert product[1, 0].item() == 10
    shape = tuple((torch.zeros(32, 10) @ torch.zeros(10, 200)).shape)
    assert correct_option("matrix-multiplication", "result-shape") == str(shape)
    with pytest.raises(RuntimeError):
        torch.zeros(5, 3) @ torch.zeros(4, 2)
    assert "6,400 x 10 = **64,000**" in solution("matrix-multiplication", "count-multiplications")


def test_neural_bigram_numbers():
    text = body("neural-bigram")
    probs = torch.softmax(torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64), 0).tolist()
    assert "(" + ", ".join(f"{p:.4f}" for p in probs) + ")" in text
    assert_shows(text, math.exp(2) + math.exp(1) + 1, 3)
    assert_shows(text, -math.log(probs[1]), 4)
    assert_shows(text, math.log(7), 4)
    assert f"about {average_nll(NAMES, P):.2f}" in text
    p_second = torch.softmax(torch.tensor([1.0, 3.0], dtype=torch.float64), 0)[1].item()
    assert correct_option("neural-bigram", "two-logits") == f"about {p_second:.3f}"
    assert_shows(solution("neural-bigram", "nll-from-logits"), math.exp(2) / 8.757, 4)


def test_embedding_numbers():
    examples = context_examples(NAMES, 3)
    text = body("embeddings-and-context")
    assert f"torch.Size([{len(examples)}, 3])" in text
    shown = "\n".join(f"{context} -> {nxt}" for context, nxt in examples[:5])
    assert shown in text
    assert f"{27**3:,} rows" in text


def test_gelu_numbers():
    text = body("nonlinearity-gelu")
    for x in (1.0, -1.0, 3.0):
        assert_shows(text, gelu(x), 4)
    assert_shows(text, gelu(-1.0) + gelu(3.0), 4)
    x = torch.tensor([[2.0, -1.0]])
    w1 = torch.tensor([[1.0, 2.0], [3.0, 1.0]])
    w2 = torch.tensor([[1.0], [1.0]])
    assert (x @ w1).tolist() == [[-1.0, 3.0]] and (x @ w1 @ w2).item() == 2.0
    assert torch.allclose(
        F.gelu(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([-0.1587, 0, 0.8413]), atol=1e-4
    )
    assert_shows(
        solution("nonlinearity-gelu", "gelu-of-two"), 0.5 * (1 + math.erf(2 / math.sqrt(2))), 5
    )
    combined = torch.tensor([[1.0, -1], [2, 0]]) @ torch.tensor([[3.0], [1]])
    assert combined.flatten().tolist() == [2.0, 6.0]


def test_mlp_numbers():
    text = body("mlp-language-model")
    assert f"a total of {mlp_params(27, 3, 10, 200):,} parameters" in text
    for part in ["27 x 10 = 270", "(3 x 10) x 200 + 200 = 6,200", "200 x 27 + 27 = 5,427"]:
        assert part in text
    assert f"```text\n{mlp_params(7, 3, 4, 32)}\n" in text
    # The best any model can do on the 21 toy examples with a 3-character context.
    examples = context_examples(NAMES, 3)
    by_context: dict[str, Counter[str]] = {}
    for context, nxt in examples:
        by_context.setdefault(context, Counter())[nxt] += 1
    best = -sum(
        n * math.log(n / sum(c.values())) for c in by_context.values() for n in c.values()
    ) / len(examples)
    assert f"about {best:.2f} is the best possible" in text
    key = solution("mlp-language-model", "total-params")
    for part in ["27 x 8 = 216", "32 x 100 + 100 = 3,300", "100 x 27 + 27 = 2,727"]:
        assert part in key


# ---------------------------------------------------------------------------------------------
# Chapter 4: softmax and attention, in plain Python (independent of the course's torch code)


def softmax(scores: list[float], temperature: float = 1.0) -> list[float]:
    top = max(scores)
    exps = [0.0 if s == -math.inf else math.exp((s - top) / temperature) for s in scores]
    return [e / sum(exps) for e in exps]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def attend(query, keys, values, scale: bool = True) -> tuple[list[float], list[float]]:
    """One query against the visible keys: (weights, weighted sum of the values)."""
    d = len(query)
    scores = [dot(query, k) / (math.sqrt(d) if scale else 1.0) for k in keys]
    weights = softmax(scores)
    width = len(values[0])
    out = [sum(w * v[i] for w, v in zip(weights, values, strict=True)) for i in range(width)]
    return weights, out


def causal_average(xs: list[float]) -> list[float]:
    return [sum(xs[: t + 1]) / (t + 1) for t in range(len(xs))]


def causal_row(scores: list[float], t: int) -> list[float]:
    return softmax([s if j <= t else -math.inf for j, s in enumerate(scores)])


def sinusoid(pos: int, d: int) -> list[float]:
    out = []
    for i in range(0, d, 2):
        angle = pos / 10000 ** (i / d)
        out += [math.sin(angle), math.cos(angle)]
    return out


def linear_params(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def attention_params(d: int) -> int:
    return linear_params(d, 3 * d) + linear_params(d, d)


WORKED_Q = [1.0, 0.0, 1.0, 0.0]
WORKED_K = [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [1.0, 0.0, 1.0, 0.0]]
WORKED_V = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]


def chapter4_numeric() -> dict[tuple[str, str], float]:
    return {
        ("softmax", "softmax-with-log3"): softmax([2.0, 2.0 + math.log(3)])[1],
        ("softmax", "low-temperature"): softmax([1.0, 2.0, 3.0], temperature=0.5)[2],
        ("softmax", "temperature-for-target"): 1 / math.log(0.9 / 0.1),
        ("softmax", "softmax-of-zeros"): softmax([0.0, 0.0])[0],
        ("averaging-the-past", "average-at-position-2"): causal_average([2.0, 4.0, 9.0])[2],
        ("averaging-the-past", "count-weights"): int(torch.tril(torch.ones(8, 8)).sum().item()),
        ("averaging-the-past", "mask-then-softmax"): causal_row([0.0, math.log(2), 0.0, 5.0], 2)[1],
        ("averaging-the-past", "average-at-position-1"): causal_average([4.0, 8.0, 1.0])[1],
        ("self-attention", "one-score"): dot([1.0] * 4, [1.0, 0, 1, 0]) / math.sqrt(4),
        ("self-attention", "weighted-values"): attend(
            [2.0, 0, 0, 0], [[0.0] * 4, [1.0, 0, 0, 0]], [[10.0], [20.0]]
        )[1][0],
        ("self-attention", "forget-the-scaling"): attend(WORKED_Q, WORKED_K, WORKED_V, scale=False)[
            0
        ][0],
        ("self-attention", "equal-scores"): softmax([0.3, 0.3])[0],
        ("positional-encoding", "position-table-params"): nn.Embedding(256, 64).weight.numel(),
        ("positional-encoding", "slow-sinusoid"): sinusoid(2, 4)[2],
        ("positional-encoding", "embedding-tables-total"): (65 + 256) * 384,
        ("positional-encoding", "small-position-table"): 8 * 32,
        ("multi-head-attention", "head-size"): 512 // 8,
        ("multi-head-attention", "attention-layer-params"): attention_params(256),
        ("multi-head-attention", "attention-weights-count"): 12 * 1024 * 1024,
        ("multi-head-attention", "head-size-probe"): 384 // 6,
    }


def test_softmax_numbers():
    text = body("softmax")
    for temperature in (1.0, 2.0):
        shown = ", ".join(f"{p:.4f}" for p in softmax([1.0, 2.0, 3.0], temperature))
        assert f"({shown})" in text
    assert softmax([1001.0, 1002.0, 1003.0]) == pytest.approx(softmax([1.0, 2.0, 3.0]))
    assert torch.isnan(torch.tensor([1003.0]).exp() / torch.tensor([1003.0]).exp()).all()
    z = torch.tensor([0.3, -1.0, 2.0])
    assert torch.allclose(torch.softmax(z + 100, 0), torch.softmax(z, 0))
    key = plain(solution("softmax", "low-temperature"))
    exps = [math.exp(v) for v in (-4.0, -2.0, 0.0)]
    for value, digits in [(exps[0], 4), (exps[1], 4), (sum(exps), 4), (softmax([1, 2, 3])[2], 4)]:
        assert_shows(key, value, digits)
    assert_shows(solution("softmax", "temperature-for-target"), softmax([0.0, 1.0])[1], 3)
    assert softmax([0.0, math.log(9)])[1] == pytest.approx(0.9)


def test_averaging_numbers():
    x = [[1.0, 0.0], [3.0, 2.0], [5.0, -2.0]]
    averages = [[causal_average([p[i] for p in x])[t] for i in range(2)] for t in range(3)]
    assert averages == [[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]]
    text = body("averaging-the-past")
    assert "$(1, 0)$, then $(2, 1)$, then $(3, 0)$" in text
    assert causal_row([0.0, 0.0, 0.0], 1) == [0.5, 0.5, 0.0]
    assert "8 \\times 9 / 2 =$\n**36** of the 64" in solution("averaging-the-past", "count-weights")


def test_self_attention_numbers():
    text = body("self-attention")
    raw = [dot(WORKED_Q, k) for k in WORKED_K]
    assert raw == [1.0, 2.0, 2.0] and "Dot products: 1, 2, 2" in text
    weights, out = attend(WORKED_Q, WORKED_K, WORKED_V)
    assert "(" + ", ".join(f"{w:.4f}" for w in weights) + ")" in text
    assert "(" + ", ".join(f"{o:.4f}" for o in out) + ")" in text
    assert f"tensor([{out[0]:.4f}, {out[1]:.4f}])" in text
    key = solution("self-attention", "weighted-values")
    for w in softmax([0.0, 1.0]):
        assert_shows(key, w, 4)
    unscaled = attend(WORKED_Q, WORKED_K, WORKED_V, scale=False)[0]
    key = solution("self-attention", "forget-the-scaling")
    assert "(" + ", ".join(f"{w:.4f}" for w in unscaled) + ")" in key
    assert f"instead of {weights[0]:.4f}" in key


def test_positional_encoding_numbers():
    text = body("positional-encoding")
    assert f"{1024 * 768:,} parameters" in text
    assert str([round(v, 4) for v in sinusoid(1, 4)]) in text
    key = solution("positional-encoding", "embedding-tables-total")
    assert f"65 x 384 = {65 * 384:,}" in key and f"256 x 384 = {256 * 384:,}" in key


def test_multi_head_attention_numbers():
    text = body("multi-head-attention")
    assert f"768 x 2304 + 2304 = {linear_params(768, 2304):,}" in text
    assert f"768 x 768 + 768 = {linear_params(768, 768):,}" in text
    assert f"{attention_params(768):,} in all" in text
    assert f"```text\n{attention_params(768)}\n" in text
    key = solution("multi-head-attention", "attention-layer-params")
    assert f"256 x 768 + 768 = {linear_params(256, 768):,}" in key
    assert f"256 x 256 + 256 = {linear_params(256, 256):,}" in key
    assert attention_params(256) == 4 * 256**2 + 4 * 256


# ---------------------------------------------------------------------------------------------
# Chapter 5: residuals, layer norm, GPT-2 sizes (models built from torch modules on `meta`)


def layer_norm(xs: list[float], eps: float = 0.0) -> list[float]:
    mean = sum(xs) / len(xs)
    var = sum((x - mean) ** 2 for x in xs) / len(xs)
    return [(x - mean) / math.sqrt(var + eps) for x in xs]


def block_modules(d: int) -> nn.ModuleList:
    return nn.ModuleList(
        [
            nn.LayerNorm(d),
            nn.Linear(d, 3 * d),
            nn.Linear(d, d),
            nn.LayerNorm(d),
            nn.Linear(d, 4 * d),
            nn.Linear(4 * d, d),
        ]
    )


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def gpt_param_count(vocab: int, context: int, layers: int, d: int) -> int:
    with torch.device("meta"):
        wte = nn.Embedding(vocab, d)
        head = nn.Linear(d, vocab, bias=False)
        head.weight = wte.weight  # tied
        parts = [wte, nn.Embedding(context, d), *(block_modules(d) for _ in range(layers))]
        model = nn.ModuleList([*parts, nn.LayerNorm(d), head])
    return count(model)


def residual_chain_grad(w: float, layers: int, residual: bool) -> float:
    x = Node(1.0)
    h = x
    for _ in range(layers):
        h = h + w * h if residual else w * h
    backprop(h)
    return x.grad


def chapter5_numeric() -> dict[tuple[str, str], float]:
    with torch.device("meta"):
        norms = nn.ModuleList(nn.LayerNorm(768) for _ in range(2 * 12 + 1))
        mlp_256 = nn.Sequential(nn.Linear(256, 1024), nn.Linear(1024, 256))
        wte = nn.Embedding(1000, 64)
        head = nn.Linear(64, 1000, bias=False)
        head.weight = wte.weight
    tied_extra = count(nn.ModuleList([wte, head])) - count(wte)
    return {
        ("residual-connections", "plain-chain"): residual_chain_grad(0.5, 5, residual=False),
        ("residual-connections", "one-block-derivative"): grad_of(lambda x: x + 3 * x * x, 0.1)[0],
        ("residual-connections", "two-blocks"): grad_of(
            lambda x: (lambda h1: h1 + 0.5 * h1 * h1)(x + 0.5 * x * x), 1.0
        )[0],
        ("residual-connections", "block-derivative"): 1 + 0.3,
        ("layer-normalization", "normalise-four"): layer_norm([4.0, 4, 8, 8])[0],
        ("layer-normalization", "normalise-spike"): layer_norm([0.0, 0, 0, 8])[3],
        ("layer-normalization", "gpt2-layer-norm-params"): count(norms),
        ("layer-normalization", "normalise-pair"): layer_norm([1.0, 3.0])[0],
        ("transformer-block", "mlp-width"): 4 * 512,
        ("transformer-block", "mlp-params"): count(mlp_256),
        ("transformer-block", "block-params"): count(block_modules(256)),
        ("transformer-block", "mlp-width-probe"): 4 * 384,
        ("gpt2", "medium-token-table"): nn.Embedding(50257, 1024, device="meta").weight.numel(),
        ("gpt2", "embedding-share"): 50257 * 768 / gpt_param_count(50257, 1024, 12, 768),
        ("gpt2", "gpt2-medium-total"): gpt_param_count(50257, 1024, 24, 1024),
        ("gpt2", "tied-output-cost"): tied_extra,
        ("generating-text", "top-two"): softmax([3.0, 1.0])[0],
        ("generating-text", "cropped-context"): min(1499, 1024),
        ("generating-text", "work-without-cache"): sum(10 + step for step in range(100)),
        ("generating-text", "passes-for-50"): 50,
    }


def test_residual_numbers():
    text = body("residual-connections")
    plain_grad = residual_chain_grad(0.1, 10, residual=False)
    residual_grad = residual_chain_grad(0.1, 10, residual=True)
    assert f"```text\n{plain_grad:.1e}\n{residual_grad:.4f}\n```" in text
    assert_shows(text, residual_grad, 4)
    assert "$0.1^{10} = 10^{-10}$" in text


def test_layer_norm_numbers():
    text = body("layer-normalization")
    x = [1.0, 2.0, 3.0, 6.0]
    assert_shows(text, math.sqrt(3.5), 4)
    assert "$14/4 = 3.5$" in text
    normalised = layer_norm(x, eps=1e-5)
    shown = ", ".join(f"{v:.4f}" for v in normalised).replace("0.0000", "0")
    assert f"({shown})" in text
    assert "roughly $\\sqrt{13}$" in text and round(math.sqrt(13), 1) == 3.6
    key = solution("layer-normalization", "normalise-spike")
    assert_shows(key, math.sqrt(12), 4)
    assert_shows(key, layer_norm([0.0, 0, 0, 8])[0], 4)
    assert "25 x 1,536 = **38,400**" in solution("layer-normalization", "gpt2-layer-norm-params")


def test_transformer_block_numbers():
    text = body("transformer-block")
    d = 768
    assert f"```text\n{count(block_modules(d))}\n" in text
    assert f"a total of {count(block_modules(d)):,} parameters per block" in text
    assert f"768 x 3,072 + 3,072 = {linear_params(768, 3072):,}" in text
    assert f"3,072 x 768 + 768 = {linear_params(3072, 768):,}" in text
    assert f"2 x (768 + 768) = {2 * 2 * d:,}" in text
    key = solution("transformer-block", "mlp-params")
    assert f"{linear_params(256, 1024):,}" in key and f"{linear_params(1024, 256):,}" in key
    assert count(block_modules(256)) == 12 * 256**2 + 13 * 256


def test_gpt2_numbers():
    text = body("gpt2")
    small = gpt_param_count(50257, 1024, 12, 768)
    assert small == 124_439_808
    rows = {
        "token table, 50,257 x 768": 50257 * 768,
        "position table, 1,024 x 768": 1024 * 768,
        "12 blocks x 7,087,872": 12 * count(block_modules(768)),
        "final layer norm, 2 x 768": 2 * 768,
        "output layer (tied)": 0,
    }
    for label, value in rows.items():
        assert f"| {label} | {value:,} |" in text
    assert sum(rows.values()) == small and f"**{small:,}**" in text
    assert f"```text\n{small}\n" in text
    key = solution("gpt2", "gpt2-medium-total")
    for value in [50257 * 1024, 1024 * 1024, count(block_modules(1024)), 24 * 12_596_224, 2048]:
        assert f"{value:,}".replace(",", "{,}") in key or f"{value:,}" in key
    assert count(block_modules(1024)) == 12_596_224
    assert f"{50257 * 768:,}" in solution("gpt2", "weight-tying")


def test_generation_numbers():
    text = body("generating-text")
    kept = softmax([2.0, 1.0])
    assert "(" + ", ".join(f"{p:.4f}" for p in kept) + ")" in text
    assert f"tensor([[{kept[0]:.4f}, {kept[1]:.4f}, 0.0000, 0.0000]])" in text
    assert "100 x 59.5 = **5,950**" in solution("generating-text", "work-without-cache")
    assert f"the first {1499 - 1024} are out of view" in solution(
        "generating-text", "cropped-context"
    )


# ---------------------------------------------------------------------------------------------
# Chapters 6 to 17 and the capstone

GPT2_SMALL = 124_439_808


def bpe_merges(text: str, merges: int) -> list[list[str]]:
    """The token lists after each merge; ties go to the pair that appears first."""
    tokens, history = list(text), []
    for _ in range(merges):
        pairs = Counter(itertools.pairwise(tokens))
        best = max(pairs.values())
        pair = next(p for p in itertools.pairwise(tokens) if pairs[p] == best)
        merged, i = [], 0
        while i < len(tokens):
            if tuple(tokens[i : i + 2]) == pair:
                merged.append(pair[0] + pair[1])
                i += 2
            else:
                merged.append(tokens[i])
                i += 1
        tokens = merged
        history.append(tokens)
    return history


def adamw_first_step(value: float, grad: float, lr: float, weight_decay: float = 0.0) -> float:
    p = torch.tensor([value], requires_grad=True)
    optimizer = torch.optim.AdamW([p], lr=lr, weight_decay=weight_decay)
    p.grad = torch.tensor([grad])
    optimizer.step()
    return p.item()


def kv_bytes_per_token(layers: int, width: int, bytes_per_number: int = 2) -> int:
    return 2 * layers * width * bytes_per_number


def chat_params(depth: int, vocab: int = 65_536) -> int:
    width = 64 * depth
    return depth * 12 * width**2 + 2 * vocab * width


def policy_step() -> tuple[float, float]:
    logits = torch.zeros(2, requires_grad=True)
    objective = 1.0 * torch.log_softmax(logits, 0)[0]  # advantage 1 for the sampled answer 0
    objective.backward()
    assert logits.grad is not None
    after = torch.softmax(logits.detach() + 1.0 * logits.grad, 0)[0].item()
    return logits.grad[0].item(), after


def later_numeric() -> dict[tuple[str, str], float]:
    bf16_bytes = torch.tensor([], dtype=torch.bfloat16).element_size()
    image = torch.rand(3, 224, 224)
    patches = image.unfold(1, 16, 16).unfold(2, 16, 16)
    gradient, after = policy_step()
    per_token = torch.tensor([2.0, 1.0, 3.0, 0.5, 0.5])
    targets = torch.tensor([-100, -100, 0, 0, 0])  # the two user targets are ignored
    masked = F.nll_loss(-per_token.unsqueeze(1), targets, ignore_index=-100).item()
    return {
        ("byte-pair-encoding", "utf8-length"): len("naïve café".encode()),
        ("byte-pair-encoding", "one-merge"): len(bpe_merges("abcabcab", 1)[0]),
        ("byte-pair-encoding", "gpt2-merges"): 50257 - 256 - 1,
        ("byte-pair-encoding", "euro-bytes"): len("€".encode()),
        ("weight-initialisation", "init-std-768"): 1 / math.sqrt(768),
        ("weight-initialisation", "first-loss-gpt2"): nll_of_logits([0.0] * 50257, 0),
        ("weight-initialisation", "residual-scaling"): 0.02 / math.sqrt(2 * 12),
        ("weight-initialisation", "init-std-256"): 1 / math.sqrt(256),
        ("adamw", "first-step"): adamw_first_step(2.0, -3.0, 0.01),
        ("adamw", "decay-factor"): 5.0 * (1 - 0.001 * 0.1),
        ("adamw", "huge-gradient"): adamw_first_step(1.0, 500.0, 0.1),
        ("adamw", "first-step-size"): abs(adamw_first_step(0.0, 1000.0, 0.001)),
        ("compute-devices", "big-matmul-flops"): 2 * 4096**3,
        ("compute-devices", "training-hours"): 6 * GPT2_SMALL * 1e9 / 5e13 / 3600,
        ("compute-devices", "utilisation"): 6 * GPT2_SMALL * 500_000 / 2.0 / 1e15,
        ("compute-devices", "small-matmul-flops"): 2 * 2 * 3 * 4,
        ("mixed-precision", "bf16-bytes"): GPT2_SMALL * bf16_bytes,
        ("mixed-precision", "bf16-spacing"): torch.finfo(torch.bfloat16).eps,
        ("mixed-precision", "training-memory"): GPT2_SMALL * 4 * 4 / 1e9,
        ("mixed-precision", "fp32-bytes"): torch.tensor([], dtype=torch.float32).element_size(),
        ("data-parallel-training", "tokens-per-step"): 8 * 16 * 2048,
        ("data-parallel-training", "accumulation-steps"): 524_288 // (4 * 8 * 1024),
        ("data-parallel-training", "unequal-shards"): (3 * 2.0 + 1 * 6.0) / 4,
        ("data-parallel-training", "average-of-four"): sum([1, 2, 3, 6]) / 4,
        ("datasets-and-validation", "val-documents"): 1_000_000 - int(0.9 * 1_000_000),
        ("datasets-and-validation", "shard-count"): 10**10 // 10**8,
        ("datasets-and-validation", "steps-for-budget"): round(20 * GPT2_SMALL / 524_288),
        ("datasets-and-validation", "tokens-for-1b"): 20 * 10**9,
        ("kv-cache", "numbers-per-token"): 2 * 768,
        ("kv-cache", "work-with-cache"): 10 + (100 - 1),
        ("kv-cache", "cache-bytes"): 2048 * kv_bytes_per_token(24, 1024),
        ("kv-cache", "gpt2-cache-per-token"): kv_bytes_per_token(12, 768),
        ("quantisation", "absmax-scale"): 2.54 / 127,
        ("quantisation", "quantise-one"): round(0.5 / (2.54 / 127)),
        ("quantisation", "int4-memory"): 7e9 * 4 / 8 / 1e9,
        ("quantisation", "int4-levels"): 2**4,
        ("supervised-finetuning", "trained-tokens"): 15 + 25,
        ("supervised-finetuning", "masked-mean"): masked,
        ("supervised-finetuning", "trained-in-short-chat"): 12,
        ("reinforcement-learning", "group-advantage"): 1 - sum([1, 1, 0, 0, 0]) / 5,
        ("reinforcement-learning", "policy-gradient"): gradient,
        ("reinforcement-learning", "after-one-step"): after,
        ("reinforcement-learning", "all-correct"): 1 - sum([1, 1, 1, 1]) / 4,
        ("serving-a-model", "reply-time"): 200 / 50,
        ("serving-a-model", "kv-bytes-7b"): kv_bytes_per_token(32, 4096),
        ("serving-a-model", "concurrent-conversations"): (24e9 - 7e9)
        // (4096 * kv_bytes_per_token(32, 4096)),
        ("serving-a-model", "ninety-tokens"): 90 / 30,
        ("images-as-tokens", "patch-count"): (336 // 14) ** 2,
        ("images-as-tokens", "values-per-patch"): 14 * 14 * 3,
        ("images-as-tokens", "attention-ratio"): (224 * 224) ** 2 / ((224 // 16) ** 2) ** 2,
        ("images-as-tokens", "patches-224"): patches.shape[1] * patches.shape[2],
        ("nanochat-end-to-end", "width-from-depth"): 64 * 26,
        ("nanochat-end-to-end", "depth-12-params"): chat_params(12),
        ("nanochat-end-to-end", "bits-per-byte"): 2.0 / math.log(2) / 4.5,
        ("nanochat-end-to-end", "tokens-for-100m"): 20 * 100_000_000,
    }


def test_later_chapter_numbers():
    history = bpe_merges("banana bandana", 3)
    text = body("byte-pair-encoding")
    for tokens in history:
        assert str(tokens) in text
    assert f"shrink {len('banana bandana')} symbols to {len(history[-1])} tokens" in text
    assert str(list("é".encode())) in text
    assert adamw_first_step(1.0, 0.5, 0.1, 0.1) == pytest.approx(0.89)
    assert "0.0 0.9\n0.1 0.89" in body("adamw")
    total = 6 * GPT2_SMALL * 1e10
    text = body("compute-devices")
    assert f"{total / 1e18:.3f} \\times 10^{{18}}" in text
    assert f"about {total / 1e14:,.0f} s, or {total / 1e14 / 3600:.1f} hours" in text
    assert f"{2 * 64 * 512 * 512}" in text
    assert f"about {round(total / 1e14 / 3600)} hours" in text
    assert f"{kv_bytes_per_token(12, 768) * 1024:,} bytes per sequence" in body("kv-cache")
    text = body("serving-a-model")
    free_tokens = 66e9 / kv_bytes_per_token(32, 4096)
    assert f"about {free_tokens:,.0f} tokens fit: {int(free_tokens // 4096)} conversations" in text
    text = body("nanochat-end-to-end")
    params = chat_params(20)
    assert params == 560_988_160
    flops = 6 * params * 20 * params
    assert f"{64 * 20} {params} {20 * params}\n{flops:.3e} {flops / 1e15 / 3600:.1f}" in text
    key = solution("nanochat-end-to-end", "depth-12-params")
    assert f"{12 * 12 * 768**2:,}" in key and f"{2 * 65_536 * 768:,}" in key
    key = solution("serving-a-model", "concurrent-conversations")
    assert f"{4096 * kv_bytes_per_token(32, 4096) / 1e9:.3f}" in key
    assert f"12.7 / 127 = {12.7 / 127:.1f}" in solution("quantisation", "outlier")
    assert round(0.03 / (12.7 / 127)) == 0


# ---------------------------------------------------------------------------------------------
# Every numeric answer key in the course is computed above


@cache
def expected_numeric() -> dict[tuple[str, str], float]:
    return {
        **chapter1_numeric(),
        **chapter2_numeric(),
        **chapter3_numeric(),
        **chapter4_numeric(),
        **chapter5_numeric(),
        **later_numeric(),
    }


NUMERIC = [(s.slug, i.slug) for s, i in all_items() if i.kind == "numeric"]


@pytest.mark.parametrize(("step_slug", "item_slug"), NUMERIC, ids=[f"{s}/{i}" for s, i in NUMERIC])
def test_numeric_answer_key_is_computed(step_slug, item_slug):
    expected = expected_numeric()
    assert (step_slug, item_slug) in expected, "no computation for this numeric answer key"
    exercise = item(step_slug, item_slug)
    value = expected[(step_slug, item_slug)]
    assert exercise.answer is not None
    slack = exercise.tolerance + 1e-9 * max(1.0, abs(value))
    assert abs(exercise.answer - value) <= slack, f"key {exercise.answer}, computed {value}"
    # The tolerance accepts rounding, not a different answer.
    assert exercise.tolerance <= max(0.01 * abs(value), 0.005)


def test_every_numeric_key_has_a_computation_in_the_course():
    assert set(expected_numeric()) == set(NUMERIC)


def test_course_has_numbers_to_check():
    assert len(NUMERIC) >= 10
    assert course().slug == "llm101n"
