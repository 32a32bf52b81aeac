"""Finding checkpoints as nanochat lays them out, telling generations apart, refusing the rest."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from modelworker.checkpoint import (
    CheckpointError,
    find_checkpoint,
    load_state_dict,
    open_checkpoint,
    window_sizes,
)
from modelworker.model import GPT
from tests.modelworker.conftest import FIXTURES, GENERATIONS, REPO, reference, reference_input


def _base_dir(tmp_path: Path, generation: str = "head") -> Path:
    """A writable copy of a fixture base dir."""
    target = tmp_path / generation
    shutil.copytree(FIXTURES / generation, target, symlinks=True)
    return target


def _logits(model: GPT, generation: str) -> torch.Tensor:
    item = reference_input(generation, "raw_short")
    return model.forward(torch.tensor([item["token_ids"]]))[0, -1]


def test_largest_tag_and_last_step_are_chosen_by_default(tmp_path: Path) -> None:
    base = _base_dir(tmp_path)
    sft = base / "chatsft_checkpoints"
    (sft / "d12").mkdir()
    shutil.copy(sft / "d4" / "model_000000.pt", sft / "d12" / "model_000500.pt")
    shutil.copy(sft / "d4" / "meta_000000.json", sft / "d12" / "meta_000500.json")
    shutil.copy(sft / "d4" / "model_000000.pt", sft / "d12" / "model_001200.pt")
    shutil.copy(sft / "d4" / "meta_000000.json", sft / "d12" / "meta_001200.json")
    found = find_checkpoint(base)
    assert (found.tag, found.step) == ("d12", 1200)
    assert found.model_path == sft / "d12" / "model_001200.pt"
    assert found.tokenizer_path == base / "tokenizer" / "tokenizer.pkl"
    assert find_checkpoint(base, tag="d4").step == 0
    assert find_checkpoint(base, tag="d12", step=500).meta_path.name == "meta_000500.json"
    with pytest.raises(CheckpointError, match="no step 7"):
        find_checkpoint(base, tag="d12", step=7)


def test_source_selects_the_training_stage_folder() -> None:
    assert find_checkpoint(FIXTURES / "head", source="base").model_path.parent.parent.name == (
        "base_checkpoints"
    )
    with pytest.raises(CheckpointError, match="no chatrl_checkpoints/"):
        find_checkpoint(FIXTURES / "head", source="rl")


def test_missing_meta_or_tokenizer_is_refused(tmp_path: Path) -> None:
    base = _base_dir(tmp_path)
    (base / "chatsft_checkpoints" / "d4" / "meta_000000.json").unlink()
    with pytest.raises(CheckpointError, match=r"meta_000000\.json is missing"):
        find_checkpoint(base)
    base = _base_dir(tmp_path / "b")
    (base / "tokenizer" / "tokenizer.pkl").unlink()
    with pytest.raises(CheckpointError, match=r"tokenizer\.pkl is missing"):
        find_checkpoint(base)


def test_compile_prefixes_are_stripped(tmp_path: Path) -> None:
    base = _base_dir(tmp_path)
    path = base / "chatsft_checkpoints" / "d4" / "model_000000.pt"
    state = load_state_dict(path)
    torch.save({"_orig_mod." + k: v for k, v in state.items()}, path)
    model = GPT(open_checkpoint(base))
    expected = reference_input("head", "raw_short")["final_logits_first64"]
    assert (_logits(model, "head")[:64] - torch.tensor(expected)).abs().max() < 1e-4


def test_fp32_weights_load_like_bf16_ones(tmp_path: Path) -> None:
    base = _base_dir(tmp_path)
    path = base / "chatsft_checkpoints" / "d4" / "model_000000.pt"
    state = load_state_dict(path)
    assert state["transformer.wte.weight"].dtype == torch.bfloat16
    torch.save({k: v.float() for k, v in state.items()}, path)
    model = GPT(open_checkpoint(base))
    expected = reference_input("head", "raw_short")["final_logits_first64"]
    assert (_logits(model, "head")[:64] - torch.tensor(expected)).abs().max() < 1e-4


@pytest.mark.parametrize("generation", GENERATIONS)
def test_generation_and_its_shape_facts_are_detected(generation: str) -> None:
    ckpt = open_checkpoint(FIXTURES / generation)
    ref = reference(generation)
    observed = ref["architecture_observed"]
    # head-mqa is a second model of the head generation.
    assert ckpt.arch.generation == ref["generation"].removesuffix("-mqa")
    assert ckpt.arch.rotary_base == observed["rotary"]["base"]
    assert ckpt.arch.rotary_table_bf16 == (observed["rotary"]["table_dtype"] == "bfloat16")
    assert list(ckpt.arch.value_embed_layers) == (observed["value_embed_layers"] or [])
    assert ckpt.arch.ve_gate_channels == (observed["ve_gate_channels"] or 0)
    assert ckpt.arch.padded_vocab == observed["padded_vocab_rows"]
    windows = window_sizes(ckpt.config, ckpt.arch)
    if observed["window_sizes"] is None:
        assert windows == [None] * ckpt.config.n_layer
    else:
        assert windows == [left for left, _ in observed["window_sizes"]]


def test_a_missing_key_is_named_and_refused(tmp_path: Path) -> None:
    base = _base_dir(tmp_path)
    path = base / "chatsft_checkpoints" / "d4" / "model_000000.pt"
    state = load_state_dict(path)
    del state["backout_lambda"]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="missing keys: backout_lambda"):
        open_checkpoint(base)


def test_an_unexpected_key_is_named_and_refused(tmp_path: Path) -> None:
    base = _base_dir(tmp_path, "2026-01")
    path = base / "chatsft_checkpoints" / "d4" / "model_000000.pt"
    state = load_state_dict(path)
    state["transformer.h.0.attn.engram.weight"] = torch.zeros(4, 4)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"unexpected keys: transformer\.h\.0\.attn\.engram"):
        open_checkpoint(base)


def test_a_wrong_shape_is_named_and_refused(tmp_path: Path) -> None:
    base = _base_dir(tmp_path, "2025-10")
    path = base / "chatsft_checkpoints" / "d4" / "model_000000.pt"
    state = load_state_dict(path)
    state["transformer.h.2.mlp.c_fc.weight"] = torch.zeros(256, 128)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"wrong shapes: transformer\.h\.2\.mlp\.c_fc"):
        open_checkpoint(base)


def test_a_variant_the_files_cannot_pin_down_is_refused(tmp_path: Path) -> None:
    # Value-embedding gates 12 wide without smear: nanochat's 2026-03-09..13 commits, whose
    # constants the files do not show.
    base = _base_dir(tmp_path)
    path = base / "chatsft_checkpoints" / "d4" / "model_000000.pt"
    state = load_state_dict(path)
    for key in ("smear_gate.weight", "smear_lambda", "backout_lambda"):
        del state[key]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"without smear_gate\.weight"):
        open_checkpoint(base)


def test_loading_another_generation_rules_names_the_differences() -> None:
    with pytest.raises(CheckpointError, match=r"missing keys: .*value_embeds\.1\.weight"):
        open_checkpoint(FIXTURES / "2025-10", generation="2026-01")
    with pytest.raises(CheckpointError, match=r"unexpected keys: .*smear_gate\.weight"):
        open_checkpoint(FIXTURES / "head", generation="2026-01")


def test_generation_constants_can_be_overridden() -> None:
    plain = open_checkpoint(FIXTURES / "2026-01")
    assert plain.arch.softcap == 15.0
    ckpt = open_checkpoint(FIXTURES / "2026-01", overrides={"softcap": "20", "qk_scale": "1.2"})
    assert (ckpt.arch.softcap, ckpt.arch.qk_scale) == (20.0, 1.2)
    assert _logits(GPT(ckpt), "2026-01").abs().max() > _logits(GPT(plain), "2026-01").abs().max()
    with pytest.raises(CheckpointError, match="cannot override 'n_layer'"):
        open_checkpoint(FIXTURES / "2026-01", overrides={"n_layer": "3"})
    with pytest.raises(CheckpointError, match="window_rule must be one of"):
        open_checkpoint(FIXTURES / "2026-01", overrides={"window_rule": "third"})


def _inspect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelworker", "inspect", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_inspect_prints_what_it_detected() -> None:
    result = _inspect(str(FIXTURES / "head-mqa"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "generation                 head (detected)" in out
    assert "[128, 512, 128, 512]" in out
    assert "3 * sigmoid(first 12 channels)" in out
    assert "backout                    after block 2" in out


def test_inspect_refuses_an_uninterpretable_checkpoint(tmp_path: Path) -> None:
    base = _base_dir(tmp_path)
    path = base / "chatsft_checkpoints" / "d4" / "model_000000.pt"
    state = load_state_dict(path)
    del state["transformer.h.3.attn.ve_gate.weight"]
    torch.save(state, path)
    result = _inspect(str(base))
    assert result.returncode == 2
    assert "refused:" in result.stderr
    assert "transformer.h.3.attn.ve_gate.weight" in result.stderr


def test_serve_refuses_an_uninterpretable_checkpoint(tmp_path: Path) -> None:
    base = _base_dir(tmp_path, "2026-01")
    path = base / "chatsft_checkpoints" / "d4" / "model_000000.pt"
    state = load_state_dict(path)
    state["smear_lambda"] = torch.zeros(1)
    torch.save(state, path)
    result = subprocess.run(
        [sys.executable, "-m", "modelworker", "serve", f"--base-dir={base}", "--device=cpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unexpected keys: smear_lambda" in result.stderr


def test_serve_refuses_a_negative_thread_count() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modelworker", "serve", f"--base-dir={FIXTURES / 'head-mqa'}",
         "--device=cpu", "--threads=-1"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--threads must be 1 or more (0: PyTorch's choice), not -1" in result.stderr
