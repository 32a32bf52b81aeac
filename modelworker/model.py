"""The nanochat GPT forward pass, for every generation the checkpoint module recognises.

One function-style forward covers them all; the generation's rules (`Architecture`) switch the
parts on and off. The same forward runs without a cache (the reference path) and on slot rows of a
shared `KVCache`, where each row has its own length (continuous batching).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from modelworker.checkpoint import Checkpoint, ModelConfig, window_sizes

# Attention kernels without per-shape planning. cuDNN's attention builds an execution plan for
# each new (batch, key length) shape; in decoding the key length grows by one every step, so
# every step paid for a new plan (measured on an H200: 70 ms a token at batch 1 instead of 14).
_ATTENTION_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def _norm(x: torch.Tensor) -> torch.Tensor:
    # No weight, and torch's default epsilon (the dtype's machine epsilon) as nanochat uses.
    return F.rms_norm(x, (x.size(-1),))


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # Halves, not interleaved pairs, rotated by minus the angle: q and k are not rotated
    # symmetrically, so the sign matters.
    d = x.shape[-1] // 2
    a, b = x[..., :d], x[..., d:]
    return torch.cat([a * cos + b * sin, b * cos - a * sin], dim=-1).to(x.dtype)


class KVCache:
    """Keys and values of `n_slots` sequences, each up to `max_len` positions.

    The engine owns the bookkeeping (which slot holds which sequence, and how long it is); the
    model writes a row's keys at the positions it is given and reads positions 0..p for a query at
    p. Positions beyond a row's length may hold stale values: they are overwritten before any query
    can see them.
    """

    def __init__(
        self,
        config: ModelConfig,
        n_slots: int,
        max_len: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        shape = (config.n_layer, n_slots, config.n_kv_head, max_len, config.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        # The last token's normed embedding per row, which the smear of the next token needs.
        self.prev_embed = torch.zeros((n_slots, config.n_embd), device=device, dtype=dtype)
        self.n_slots = n_slots
        self.max_len = max_len

    @property
    def nbytes(self) -> int:
        return 2 * self.k.numel() * self.k.element_size()

    def move(self, src: int, dst: int, length: int) -> None:
        """Copy row `src` (its first `length` positions) into row `dst`."""
        self.k[:, dst, :, :length] = self.k[:, src, :, :length]
        self.v[:, dst, :, :length] = self.v[:, src, :, :length]
        self.prev_embed[dst] = self.prev_embed[src]


@dataclass
class _Layer:
    c_q: torch.Tensor
    c_k: torch.Tensor
    c_v: torch.Tensor
    c_proj: torch.Tensor
    c_fc: torch.Tensor
    mlp_proj: torch.Tensor
    window: int | None
    value_embed: torch.Tensor | None
    ve_gate: torch.Tensor | None


class GPT:
    def __init__(
        self,
        checkpoint: Checkpoint,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        max_positions: int | None = None,
    ) -> None:
        self.config = config = checkpoint.config
        self.arch = arch = checkpoint.arch
        self.device = torch.device(device)
        self.dtype = dtype
        # nanochat precomputes rotary tables for ten times the training length.
        self.max_positions = max_positions or 10 * config.sequence_len
        state = checkpoint.state

        def weight(key: str) -> torch.Tensor:
            return state[key].to(device=self.device, dtype=dtype)

        self.wte = weight("transformer.wte.weight")
        self.lm_head = weight("lm_head.weight")
        windows = window_sizes(config, arch)
        self.layers: list[_Layer] = []
        for i in range(config.n_layer):
            p = f"transformer.h.{i}."
            ve = i in arch.value_embed_layers
            self.layers.append(
                _Layer(
                    c_q=weight(p + "attn.c_q.weight"),
                    c_k=weight(p + "attn.c_k.weight"),
                    c_v=weight(p + "attn.c_v.weight"),
                    c_proj=weight(p + "attn.c_proj.weight"),
                    c_fc=weight(p + "mlp.c_fc.weight"),
                    mlp_proj=weight(p + "mlp.c_proj.weight"),
                    window=windows[i],
                    value_embed=weight(f"value_embeds.{i}.weight") if ve else None,
                    ve_gate=weight(p + "attn.ve_gate.weight") if ve else None,
                )
            )
        self.resid_lambdas = weight("resid_lambdas") if arch.resid_x0_lambdas else None
        self.x0_lambdas = weight("x0_lambdas") if arch.resid_x0_lambdas else None
        self.smear_gate = weight("smear_gate.weight") if arch.smear else None
        self.smear_lambda = weight("smear_lambda") if arch.smear else None
        self.backout_lambda = weight("backout_lambda") if arch.backout else None
        self.cos, self.sin = self._rotary_tables()

    def _rotary_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        hd = self.config.head_dim
        channels = torch.arange(0, hd, 2, dtype=torch.float32, device=self.device)
        inv_freq = 1.0 / (self.arch.rotary_base ** (channels / hd))
        t = torch.arange(self.max_positions, dtype=torch.float32, device=self.device)
        freqs = torch.outer(t, inv_freq)
        cos, sin = freqs.cos(), freqs.sin()
        if self.arch.rotary_table_bf16:
            cos, sin = cos.bfloat16(), sin.bfloat16()
        return cos.to(self.dtype), sin.to(self.dtype)

    def new_cache(self, n_slots: int, max_len: int) -> KVCache:
        return KVCache(self.config, n_slots, max_len, self.device, self.dtype)

    @torch.inference_mode()
    @sdpa_kernel(_ATTENTION_BACKENDS)
    def forward(
        self,
        idx: torch.Tensor,
        positions: torch.Tensor | None = None,
        cache: KVCache | None = None,
        slots: slice | None = None,
        last: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (fp32, softcapped, cut to the vocabulary) for token ids `idx` [B, T].

        Without a cache the rows start at position 0 and logits come for every position.
        With a cache, row b is slot `slots.start + b`, its tokens sit at `positions[b]`, and every
        earlier position of the slot must already be in the cache. `last[b]` picks the one position
        per row whose logits are returned ([B, V]); it is also the row's last real token, so its
        embedding is what the next call smears with. Positions after it (right padding) compute
        garbage that nobody reads.
        """
        cfg, arch = self.config, self.arch
        B, T = idx.shape
        if positions is None:
            positions = torch.arange(T, device=self.device).expand(B, T)
        # One host sync per call: the key count of the cached rows.
        n_keys = int(positions.max()) + 1 if cache is not None else T
        if n_keys > self.max_positions:
            raise ValueError(f"position beyond the model's {self.max_positions} rotary positions")
        cos = self.cos[positions].unsqueeze(2)
        sin = self.sin[positions].unsqueeze(2)
        rows = torch.arange(B, device=self.device)

        e = _norm(F.embedding(idx, self.wte))
        x = e
        if self.smear_gate is not None and self.smear_lambda is not None:
            if cache is not None and slots is not None:
                carried = cache.prev_embed[slots] * (positions[:, :1] > 0).to(e.dtype)
            else:
                carried = torch.zeros_like(e[:, 0])
            prev = torch.cat([carried.unsqueeze(1), e[:, :-1]], dim=1)
            gate = self.smear_lambda * torch.sigmoid(
                F.linear(e[..., : arch.smear_channels], self.smear_gate)
            )
            x = e + gate * prev
        if cache is not None and slots is not None:
            end = last if last is not None else torch.full((B,), T - 1, device=self.device)
            cache.prev_embed[slots] = e[rows, end]
        x0 = x

        n_kv, hd = cfg.n_kv_head, cfg.head_dim
        key_pos = torch.arange(n_keys, device=self.device)
        query_pos = positions[:, :, None]
        causal = key_pos <= query_pos
        masks: dict[int | None, torch.Tensor] = {}
        backout_layer = cfg.n_layer // 2
        x_mid = x
        for i, layer in enumerate(self.layers):
            if self.resid_lambdas is not None and self.x0_lambdas is not None:
                x = self.resid_lambdas[i] * x + self.x0_lambdas[i] * x0
            h = _norm(x)
            q = F.linear(h, layer.c_q).view(B, T, cfg.n_head, hd)
            k = F.linear(h, layer.c_k).view(B, T, n_kv, hd)
            v = F.linear(h, layer.c_v).view(B, T, n_kv, hd)
            if layer.value_embed is not None and layer.ve_gate is not None:
                ve = F.embedding(idx, layer.value_embed).view(B, T, n_kv, hd)
                gate = arch.ve_gate_scale * torch.sigmoid(
                    F.linear(h[..., : arch.ve_gate_channels], layer.ve_gate)
                )
                v = v + gate.unsqueeze(-1) * ve
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
            q, k = _norm(q), _norm(k)
            if arch.qk_scale != 1.0:
                q, k = q * arch.qk_scale, k * arch.qk_scale
            q = q.transpose(1, 2)
            if cache is not None and slots is not None:
                k_rows, v_rows = cache.k[i, slots], cache.v[i, slots]
                b_idx = rows[:, None].expand(B, T)
                k_rows[b_idx, :, positions] = k
                v_rows[b_idx, :, positions] = v
                keys, values = k_rows[:, :, :n_keys], v_rows[:, :, :n_keys]
            else:
                keys, values = k.transpose(1, 2), v.transpose(1, 2)
            if layer.window not in masks:
                mask = causal
                if layer.window is not None:
                    mask = mask & (key_pos >= query_pos - layer.window)
                masks[layer.window] = mask.unsqueeze(1)
            y = F.scaled_dot_product_attention(
                q, keys, values, attn_mask=masks[layer.window], enable_gqa=n_kv != cfg.n_head
            )
            x = x + F.linear(y.transpose(1, 2).reshape(B, T, -1), layer.c_proj)
            x = x + F.linear(F.relu(F.linear(_norm(x), layer.c_fc)).square(), layer.mlp_proj)
            if i == backout_layer:
                x_mid = x
        if self.backout_lambda is not None:
            x = x - self.backout_lambda * x_mid
        x = _norm(x)
        if last is not None:
            x = x[rows, last]
        logits = F.linear(x, self.lm_head)[..., : cfg.vocab_size].float()
        return arch.softcap * torch.tanh(logits / arch.softcap)
