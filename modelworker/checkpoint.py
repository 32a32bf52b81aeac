"""Finding, reading and interpreting nanochat checkpoints.

A nanochat base dir holds `tokenizer/tokenizer.pkl` and `<source>_checkpoints/<tag>/model_<step>.pt`
with `meta_<step>.json` beside it. The state dict says which architecture generation wrote it;
the constants nanochat never stores (rotary base, softcap, window rule, ...) come from the
generation and can be overridden. Anything we cannot interpret is refused, never served wrong.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

SOURCE_DIRS = {
    "base": "base_checkpoints",
    "mid": "mid_checkpoints",
    "sft": "chatsft_checkpoints",
    "rl": "chatrl_checkpoints",
}

# Wrappers that prefix parameter names: torch.compile and DistributedDataParallel.
_KEY_PREFIXES = ("_orig_mod.", "module.")


class CheckpointError(Exception):
    """The checkpoint is missing, unreadable, or not one we know how to run correctly."""


@dataclass(frozen=True)
class CheckpointFiles:
    base_dir: Path
    source: str
    tag: str
    step: int
    model_path: Path
    meta_path: Path
    tokenizer_path: Path


@dataclass(frozen=True)
class ModelConfig:
    """What nanochat stores in `meta_<step>.json` under `model_config`."""

    sequence_len: int
    vocab_size: int
    n_layer: int
    n_head: int
    n_kv_head: int
    n_embd: int
    window_pattern: str

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


@dataclass(frozen=True)
class Architecture:
    """Rules of one nanochat generation that the files do not record.

    The numeric widths (value-embedding gate, smear gate) are read off tensor shapes; the rest is
    fixed per generation and may be overridden by the operator for variants nanochat shipped with
    identical keys (for example the short-lived softcap-20 commits).
    """

    generation: str
    rotary_base: float
    # Old generations round the cos/sin tables to bfloat16 whatever the compute dtype.
    rotary_table_bf16: bool
    softcap: float
    # Multiplier on q and k after QK norm (on top of the usual 1/sqrt(head_dim)).
    qk_scale: float
    # "none": full causal attention; "half": short window seq/2; "quarter128": ceil(seq/4/128)*128.
    window_rule: str
    resid_x0_lambdas: bool
    ve_gate_scale: float
    ve_gate_channels: int
    value_embed_layers: tuple[int, ...]
    smear_channels: int
    backout: bool
    padded_vocab: int

    @property
    def smear(self) -> bool:
        return self.smear_channels > 0

    def with_overrides(self, overrides: dict[str, str]) -> Architecture:
        changes: dict[str, Any] = {}
        fields = {f.name: f for f in dataclasses.fields(self)}
        for name, raw in overrides.items():
            if name not in OVERRIDABLE:
                raise CheckpointError(
                    f"cannot override {name!r}; overridable: {', '.join(sorted(OVERRIDABLE))}"
                )
            kind = fields[name].type
            try:
                if kind == "bool":
                    if raw.lower() not in ("true", "false", "1", "0"):
                        raise ValueError(raw)
                    changes[name] = raw.lower() in ("true", "1")
                elif kind == "float":
                    changes[name] = float(raw)
                else:
                    changes[name] = raw
            except ValueError as error:
                raise CheckpointError(f"bad value for {name}: {raw!r}") from error
        if changes.get("window_rule", self.window_rule) not in WINDOW_RULES:
            raise CheckpointError(f"window_rule must be one of {', '.join(WINDOW_RULES)}")
        return dataclasses.replace(self, **changes)


OVERRIDABLE = frozenset(
    {"rotary_base", "rotary_table_bf16", "softcap", "qk_scale", "window_rule", "ve_gate_scale"}
)
WINDOW_RULES = ("none", "half", "quarter128")

# Constants per generation, from the nanochat commits the fixtures were written by.
GENERATIONS: dict[str, dict[str, Any]] = {
    "2025-10": dict(
        rotary_base=10000.0,
        rotary_table_bf16=True,
        softcap=15.0,
        qk_scale=1.0,
        window_rule="none",
        resid_x0_lambdas=False,
        ve_gate_scale=0.0,
        backout=False,
    ),
    "2026-01": dict(
        rotary_base=10000.0,
        rotary_table_bf16=True,
        softcap=15.0,
        qk_scale=1.0,
        window_rule="half",
        resid_x0_lambdas=True,
        ve_gate_scale=2.0,
        backout=False,
    ),
    "head": dict(
        rotary_base=100000.0,
        rotary_table_bf16=False,
        softcap=15.0,
        qk_scale=1.2,
        window_rule="quarter128",
        resid_x0_lambdas=True,
        ve_gate_scale=3.0,
        backout=True,
    ),
}


def window_sizes(config: ModelConfig, arch: Architecture) -> list[int | None]:
    """Per layer, how many earlier positions a query sees (None: all of them).

    A window w lets the query at position i see keys max(0, i-w)..i. The pattern is tiled over the
    layers and the last layer is always long. The long window is sequence_len, not unlimited.
    """
    if arch.window_rule == "none":
        return [None] * config.n_layer
    long = config.sequence_len
    if arch.window_rule == "half":
        short = config.sequence_len // 2
    else:
        short = math.ceil(config.sequence_len / 4 / 128) * 128
    pattern = config.window_pattern.upper()
    sizes: list[int | None] = [
        short if pattern[i % len(pattern)] == "S" else long for i in range(config.n_layer)
    ]
    sizes[-1] = long
    return sizes


def _step_of(path: Path) -> int | None:
    match = re.fullmatch(r"model_(\d+)\.pt", path.name)
    return int(match.group(1)) if match else None


def _largest_tag(source_dir: Path) -> str:
    tags = [p for p in source_dir.iterdir() if p.is_dir() and any(p.glob("model_*.pt"))]
    if not tags:
        raise CheckpointError(f"no checkpoint folders with model_<step>.pt under {source_dir}")
    depth = [t for t in tags if re.fullmatch(r"d\d+", t.name)]
    if depth:
        # nanochat names runs by depth (d20, d26, ...): the deepest model is the largest.
        return max(depth, key=lambda p: int(p.name[1:])).name
    return max(tags, key=lambda p: p.stat().st_mtime).name


def find_checkpoint(
    base_dir: Path | str, source: str = "sft", tag: str | None = None, step: int | None = None
) -> CheckpointFiles:
    """Locate the checkpoint as nanochat lays it out: the largest tag and last step by default."""
    base = Path(base_dir)
    if source not in SOURCE_DIRS:
        raise CheckpointError(f"unknown source {source!r}; one of {', '.join(SOURCE_DIRS)}")
    if not base.is_dir():
        raise CheckpointError(f"base dir {base} does not exist")
    source_dir = base / SOURCE_DIRS[source]
    if not source_dir.is_dir():
        raise CheckpointError(f"no {SOURCE_DIRS[source]}/ under {base}")
    tag = tag or _largest_tag(source_dir)
    tag_dir = source_dir / tag
    if not tag_dir.is_dir():
        raise CheckpointError(f"no checkpoint tag {tag!r} under {source_dir}")
    steps = sorted(s for s in (_step_of(p) for p in tag_dir.glob("model_*.pt")) if s is not None)
    if not steps:
        raise CheckpointError(f"no model_<step>.pt under {tag_dir}")
    if step is None:
        step = steps[-1]
    elif step not in steps:
        raise CheckpointError(f"no step {step} under {tag_dir}; steps: {steps}")
    model_path = tag_dir / f"model_{step:06d}.pt"
    meta_path = tag_dir / f"meta_{step:06d}.json"
    if not model_path.exists():
        raise CheckpointError(f"{model_path} is missing (a dangling link?)")
    if not meta_path.exists():
        raise CheckpointError(f"{meta_path} is missing")
    tokenizer_path = base / "tokenizer" / "tokenizer.pkl"
    if not tokenizer_path.exists():
        raise CheckpointError(f"{tokenizer_path} is missing")
    return CheckpointFiles(base, source, tag, step, model_path, meta_path, tokenizer_path)


def read_meta(path: Path) -> tuple[ModelConfig, dict[str, Any]]:
    try:
        meta = json.loads(path.read_text())
        raw = meta["model_config"]
        config = ModelConfig(
            sequence_len=int(raw["sequence_len"]),
            vocab_size=int(raw["vocab_size"]),
            n_layer=int(raw["n_layer"]),
            n_head=int(raw["n_head"]),
            n_kv_head=int(raw["n_kv_head"]),
            n_embd=int(raw["n_embd"]),
            # Checkpoints from before sliding windows attend over everything: nanochat's later
            # loaders fill in "L" for them.
            window_pattern=str(raw.get("window_pattern", "L")),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"cannot read model_config from {path}: {error!r}") from error
    if not config.window_pattern or set(config.window_pattern.upper()) - {"S", "L"}:
        raise CheckpointError(f"window_pattern {config.window_pattern!r} is not made of S and L")
    if config.n_embd % config.n_head or config.n_head % config.n_kv_head:
        raise CheckpointError("n_embd must divide by n_head, and n_head by n_kv_head")
    return config, meta


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"cannot load {path}: {error}") from error
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    state: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        for prefix in _KEY_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: entry {key!r} is not a tensor")
        state[key] = value
    return state


def _detect_generation(state: dict[str, torch.Tensor]) -> str:
    gates = sorted({v.shape[-1] for k, v in state.items() if k.endswith("attn.ve_gate.weight")})
    has_smear = "smear_gate.weight" in state
    has_ve = any(k.startswith("value_embeds.") for k in state)
    has_lambdas = "resid_lambdas" in state
    if has_smear:
        if gates and gates != [12]:
            raise CheckpointError(
                f"smear_gate.weight with value-embedding gates {gates} wide: no nanochat "
                "generation we know has both (head has 12)"
            )
        return "head"
    if gates == [32]:
        return "2026-01"
    if gates:
        raise CheckpointError(
            f"value-embedding gates {gates} wide without smear_gate.weight: a nanochat variant "
            "(2026-03-09..13) whose softcap and rotary rules the files do not show; "
            "pass --generation and --override to serve it"
        )
    if has_lambdas or has_ve:
        raise CheckpointError(
            "resid_lambdas/value_embeds without attn.ve_gate weights: a short-lived nanochat "
            "variant (2026-01-11..16) whose rules the files do not show"
        )
    return "2025-10"


def _expected_shapes(
    config: ModelConfig, arch: Architecture
) -> dict[str, tuple[int, ...] | tuple[str, ...]]:
    c, hd = config.n_embd, config.head_dim
    kv = config.n_kv_head * hd
    shapes: dict[str, tuple[int, ...] | tuple[str, ...]] = {
        "transformer.wte.weight": (arch.padded_vocab, c),
        "lm_head.weight": (arch.padded_vocab, c),
    }
    for i in range(config.n_layer):
        p = f"transformer.h.{i}."
        shapes[p + "attn.c_q.weight"] = (config.n_head * hd, c)
        shapes[p + "attn.c_k.weight"] = (kv, c)
        shapes[p + "attn.c_v.weight"] = (kv, c)
        shapes[p + "attn.c_proj.weight"] = (c, c)
        shapes[p + "mlp.c_fc.weight"] = (4 * c, c)
        shapes[p + "mlp.c_proj.weight"] = (c, 4 * c)
    if arch.resid_x0_lambdas:
        shapes["resid_lambdas"] = (config.n_layer,)
        shapes["x0_lambdas"] = (config.n_layer,)
    for i in arch.value_embed_layers:
        shapes[f"value_embeds.{i}.weight"] = (arch.padded_vocab, kv)
        shapes[f"transformer.h.{i}.attn.ve_gate.weight"] = (config.n_kv_head, arch.ve_gate_channels)
    if arch.smear:
        shapes["smear_gate.weight"] = (1, arch.smear_channels)
        shapes["smear_lambda"] = (1,)
    if arch.backout:
        shapes["backout_lambda"] = (1,)
    return shapes


def interpret(
    state: dict[str, torch.Tensor],
    config: ModelConfig,
    generation: str | None = None,
    overrides: dict[str, str] | None = None,
) -> Architecture:
    """The generation's rules for this state dict, after checking every key and shape."""
    generation = generation or _detect_generation(state)
    if generation not in GENERATIONS:
        raise CheckpointError(f"unknown generation {generation!r}; one of {', '.join(GENERATIONS)}")
    rules = GENERATIONS[generation]
    if "transformer.wte.weight" not in state:
        raise CheckpointError("missing keys: transformer.wte.weight")
    padded_vocab = int(state["transformer.wte.weight"].shape[0])
    if padded_vocab < config.vocab_size:
        raise CheckpointError(
            f"transformer.wte.weight has {padded_vocab} rows for a vocab of {config.vocab_size}"
        )
    if generation == "2025-10":
        ve_layers: tuple[int, ...] = ()
        gate_channels = 0
    else:
        # Value embeddings sit on alternating layers that always include the last one.
        ve_layers = tuple(i for i in range(config.n_layer) if i % 2 == (config.n_layer - 1) % 2)
        gate_key = f"transformer.h.{ve_layers[-1]}.attn.ve_gate.weight"
        gate_channels = int(state[gate_key].shape[-1]) if gate_key in state else 0
    smear_channels = 0
    if generation == "head":
        smear = state.get("smear_gate.weight")
        smear_channels = int(smear.shape[-1]) if smear is not None else 0
    arch = Architecture(
        generation=generation,
        ve_gate_channels=gate_channels,
        value_embed_layers=ve_layers,
        smear_channels=smear_channels,
        padded_vocab=padded_vocab,
        **rules,
    )
    if overrides:
        arch = arch.with_overrides(overrides)
    if generation == "head" and not arch.smear:
        # A forced head generation without smear weights: expect them so they are named below.
        arch = dataclasses.replace(arch, smear_channels=24)
    expected = _expected_shapes(config, arch)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k} {tuple(state[k].shape)} (expected {expected[k]})"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != expected[k]
    )
    problems = []
    if missing:
        problems.append("missing keys: " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected keys: " + ", ".join(unexpected))
    if wrong:
        problems.append("wrong shapes: " + ", ".join(wrong))
    if problems:
        raise CheckpointError(
            f"cannot interpret this checkpoint as nanochat generation {generation}: "
            + "; ".join(problems)
        )
    bad_dtypes = sorted(
        k for k, v in state.items() if v.dtype not in (torch.float32, torch.bfloat16, torch.float16)
    )
    if bad_dtypes:
        raise CheckpointError("tensors of an unsupported dtype: " + ", ".join(bad_dtypes))
    return arch


@dataclass(frozen=True)
class Checkpoint:
    files: CheckpointFiles
    config: ModelConfig
    arch: Architecture
    meta: dict[str, Any]
    state: dict[str, torch.Tensor]


def open_checkpoint(
    base_dir: Path | str,
    source: str = "sft",
    tag: str | None = None,
    step: int | None = None,
    generation: str | None = None,
    overrides: dict[str, str] | None = None,
) -> Checkpoint:
    files = find_checkpoint(base_dir, source, tag, step)
    config, meta = read_meta(files.meta_path)
    state = load_state_dict(files.model_path)
    arch = interpret(state, config, generation, overrides)
    return Checkpoint(files, config, arch, meta, state)
