"""Command line: `python -m modelworker serve|inspect` (also installed as `modelworker`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import torch

from modelworker.checkpoint import (
    GENERATIONS,
    OVERRIDABLE,
    SOURCE_DIRS,
    CheckpointError,
    open_checkpoint,
    window_sizes,
)

log = logging.getLogger("modelworker")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, not {raw!r}") from None


def _overrides(items: Sequence[str]) -> dict[str, str]:
    result = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--override takes NAME=VALUE, not {item!r}")
        result[name.strip()] = value.strip()
    return result


def _checkpoint_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source", default="sft", choices=sorted(SOURCE_DIRS), help="which training stage"
    )
    parser.add_argument("--tag", help="checkpoint folder, e.g. d20 (default: the largest)")
    parser.add_argument("--step", type=int, help="training step (default: the last)")
    parser.add_argument(
        "--generation",
        choices=sorted(GENERATIONS),
        help="force an architecture generation instead of detecting it",
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a generation constant: " + ", ".join(sorted(OVERRIDABLE)),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelworker", description="Serve nanochat checkpoints through the OpenAI API."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve a checkpoint over HTTP")
    serve.add_argument(
        "--base-dir",
        default=os.environ.get("MODELWORKER_BASE_DIR"),
        help="nanochat base dir (default: $MODELWORKER_BASE_DIR)",
    )
    _checkpoint_args(serve)
    serve.add_argument("--device", choices=["cuda", "cpu"], help="default: cuda when present")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8001)
    serve.add_argument(
        "--model-name",
        default=os.environ.get("MODELWORKER_MODEL_NAME", "nanochat"),
        help="model id clients ask for (default: $MODELWORKER_MODEL_NAME or 'nanochat')",
    )
    serve.add_argument(
        "--max-batch",
        type=int,
        help="sequences decoded together (default: $MODELWORKER_MAX_BATCH, 64 on cuda, 16 on cpu)",
    )
    serve.add_argument(
        "--max-queue",
        type=int,
        default=_env_int("MODELWORKER_MAX_QUEUE", 256),
        help="waiting requests before new ones get 503 (default: $MODELWORKER_MAX_QUEUE or 256)",
    )
    serve.add_argument(
        "--max-context",
        type=int,
        help="tokens per sequence, prompt plus completion (default: the training sequence_len)",
    )
    serve.add_argument(
        "--embeddings",
        choices=["on", "off"],
        default=os.environ.get("MODELWORKER_EMBEDDINGS", "on"),
        help="serve /v1/embeddings (default: $MODELWORKER_EMBEDDINGS or on)",
    )
    serve.add_argument(
        "--threads",
        type=int,
        default=_env_int("MODELWORKER_THREADS", 0),
        help="CPU threads for the models' arithmetic (default: $MODELWORKER_THREADS, else "
        "PyTorch's choice, one per core); a worker sharing its machine with the app answers "
        "sooner with fewer",
    )
    serve.add_argument("--log-level", default="info")

    inspect = sub.add_parser("inspect", help="print what a checkpoint is and how it would run")
    inspect.add_argument("base_dir", help="nanochat base dir")
    _checkpoint_args(inspect)
    return parser


def inspect_command(args: argparse.Namespace) -> int:
    try:
        ckpt = open_checkpoint(
            args.base_dir,
            args.source,
            args.tag,
            args.step,
            args.generation,
            _overrides(args.override),
        )
    except CheckpointError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    files, config, arch = ckpt.files, ckpt.config, ckpt.arch
    n_params = sum(t.numel() for t in ckpt.state.values())
    dtypes: dict[str, int] = {}
    for tensor in ckpt.state.values():
        name = str(tensor.dtype).removeprefix("torch.")
        dtypes[name] = dtypes.get(name, 0) + 1
    rows: list[tuple[str, Any]] = [
        ("checkpoint", files.model_path),
        ("meta", files.meta_path),
        ("tokenizer", files.tokenizer_path),
        ("source / tag / step", f"{files.source} / {files.tag} / {files.step}"),
        ("generation", arch.generation + (" (forced)" if args.generation else " (detected)")),
        ("sequence_len", config.sequence_len),
        ("vocab_size", f"{config.vocab_size} (embedding rows {arch.padded_vocab})"),
        ("layers / heads / kv heads", f"{config.n_layer} / {config.n_head} / {config.n_kv_head}"),
        ("n_embd / head_dim", f"{config.n_embd} / {config.head_dim}"),
        ("parameters", f"{n_params:,}"),
        ("tensor dtypes", ", ".join(f"{k} x{v}" for k, v in sorted(dtypes.items()))),
        ("window_pattern", config.window_pattern),
        ("window sizes", ["full" if w is None else w for w in window_sizes(config, arch)]),
        ("rotary base", arch.rotary_base),
        ("rotary tables", "rounded to bfloat16" if arch.rotary_table_bf16 else "compute dtype"),
        ("logit softcap", arch.softcap),
        ("q/k scale after QK norm", arch.qk_scale),
        ("resid/x0 lambdas", arch.resid_x0_lambdas),
        ("value-embedding layers", list(arch.value_embed_layers) or "none"),
    ]
    if arch.value_embed_layers:
        rows.append(
            (
                "value-embedding gate",
                f"{arch.ve_gate_scale:g} * sigmoid(first {arch.ve_gate_channels} channels)",
            )
        )
    rows.append(("smear", f"gate on {arch.smear_channels} channels" if arch.smear else "no"))
    rows.append(("backout", f"after block {config.n_layer // 2}" if arch.backout else "no"))
    if args.override:
        rows.append(("overrides", ", ".join(args.override)))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def serve_command(args: argparse.Namespace) -> int:
    import uvicorn

    from modelworker.embeddings import Embedder
    from modelworker.engine import Engine
    from modelworker.model import GPT
    from modelworker.server import Worker, create_app
    from modelworker.tokenizer import Tokenizer

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.base_dir:
        print("serve needs --base-dir (or MODELWORKER_BASE_DIR)", file=sys.stderr)
        return 2
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        print("--device cuda, but no CUDA device is available", file=sys.stderr)
        return 2
    if args.threads < 0:
        print(f"--threads must be 1 or more (0: PyTorch's choice), not {args.threads}",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.threads:
        # Every thread that computes (the engine's, the embeddings') uses this many.
        torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    max_batch = args.max_batch or _env_int("MODELWORKER_MAX_BATCH", 64 if device == "cuda" else 16)
    try:
        ckpt = open_checkpoint(
            args.base_dir,
            args.source,
            args.tag,
            args.step,
            args.generation,
            _overrides(args.override),
        )
        tokenizer = Tokenizer.load(ckpt.files.tokenizer_path)
    except (CheckpointError, ValueError, OSError) as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    if tokenizer.n_vocab > ckpt.config.vocab_size:
        print(
            f"refused: the tokenizer has {tokenizer.n_vocab} tokens, "
            f"the model only {ckpt.config.vocab_size}",
            file=sys.stderr,
        )
        return 2
    model = GPT(ckpt, device=device, dtype=dtype)
    try:
        engine = Engine(
            model,
            tokenizer,
            max_batch=max_batch,
            max_context=args.max_context,
            max_queue=args.max_queue,
        )
    except ValueError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    log.info(
        "serving %s (%s, generation %s) on %s as %r: batch %d, context %d, %d CPU threads",
        ckpt.files.model_path,
        ckpt.files.tag,
        ckpt.arch.generation,
        device,
        args.model_name,
        max_batch,
        engine.max_context,
        torch.get_num_threads(),
    )
    worker = Worker(
        engine=engine,
        model_name=args.model_name,
        embedder=Embedder(device) if args.embeddings == "on" else None,
        api_key=os.environ.get("MODELWORKER_API_KEY") or None,
        device=device,
    )
    uvicorn.run(
        create_app(worker),
        host=args.host,
        port=args.port,
        log_level=args.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "inspect":
        sys.exit(inspect_command(args))
    sys.exit(serve_command(args))


if __name__ == "__main__":
    main()
