"""SambaY decode in plain PyTorch: the other runtime that `npm run bench:torch` times the engine against.

Written the way a careful PyTorch user would write a decode loop for this model, so that the comparison
is against a well-built baseline: caches preallocated once, head-major ([B, KV, rows, hd]), written in
place one row per step and attended over as views (nothing proportional to the context is copied);
sliding-window layers keep a ring of W rows; GQA by grouping queries, not repeating keys; Mamba's conv
state is a ring with the conv weight rolled to match, its SSM state updated in place; projections
through F.linear (BLAS with the weight as stored). Eager mode, torch.inference_mode().

The model (docs/model.md): pre-norm residual layers; Mamba, sliding / full / cross differential
attention, GMU and the gated MLP, each as the TypeScript reference writes it
(shared/engine/src/reference). Weights are read from the model directory's safetensors (F32 or BF16).

A JSON-lines server on stdin/stdout, so the driver can interleave its measurements with the engine's:
  {"cmd": "logits", "ids": [...]}                   -> {"logits": [[...], ...]} one row per position
  {"cmd": "step", "context": n, "batch": b,
   "warmup": w, "steps": s}                         -> {"ms": median step time}
The first line it prints is {"ready": true, "torch": version, "threads": n, "blas": [libraries]}.

Debian's python3-torch calls whichever BLAS libblas.so.3 points at: the unoptimised reference BLAS
unless OpenBLAS is installed (apt-get install libopenblas0-openmp), which makes its matmuls 5-20x
faster. The BLAS libraries loaded are reported, so a run says which one it had.
"""

import argparse
import json
import math
import struct
import sys
from pathlib import Path
from time import perf_counter_ns

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(model_dir: Path) -> dict:
    """Every tensor of the checkpoint (one file or an index of shards) as f32 torch tensors."""
    index = model_dir / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() else ["model.safetensors"]
    tensors = {}
    for name in files:
        raw = (model_dir / name).read_bytes()
        (header_len,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + header_len])
        body = memoryview(raw)[8 + header_len :]
        for key, info in header.items():
            if key == "__metadata__":
                continue
            start, end = info["data_offsets"]
            if info["dtype"] == "F32":
                array = np.frombuffer(body[start:end], dtype=np.float32)
            elif info["dtype"] == "BF16":
                array = (np.frombuffer(body[start:end], dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                raise ValueError(f"{key}: dtype {info['dtype']} is not supported")
            tensors[key] = torch.from_numpy(array.copy()).reshape(info["shape"])
    return tensors


class Model:
    def __init__(self, model_dir: Path, plan: dict):
        c = json.loads((model_dir / "config.json").read_text())
        self.w = read_safetensors(model_dir)
        self.d = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.kv = c["num_key_value_heads"]
        self.hd = self.d // self.heads
        self.group = self.heads // self.kv
        self.window = c["sliding_window"]
        self.eps = c["layer_norm_eps"]
        self.kinds = plan["kinds"]
        self.memory_layer = plan["memory_layer"]
        self.kv_source = plan["kv_source_layer"]
        self.d_inner = c["mamba_expand"] * self.d
        self.d_conv = c["mamba_d_conv"]
        self.d_state = c["mamba_d_state"]
        self.head_weight = self.w["model.embed_tokens.weight"] if c.get("tie_word_embeddings", True) else self.w["lm_head.weight"]
        self.layers = [self._prepare(i, kind) for i, kind in enumerate(self.kinds)]

    def _prepare(self, i: int, kind: str) -> dict:
        p = f"model.layers.{i}."
        w = {k[len(p) :]: v for k, v in self.w.items() if k.startswith(p)}
        if kind == "mamba":
            conv = w["attn.conv1d.weight"][:, 0, :]  # [Di, K]
            # The conv state is a ring of K rows; at phase r (the oldest row), row (r + k) % K holds tap k.
            w["rolled_conv"] = [torch.roll(conv, shifts=r, dims=1).t().contiguous() for r in range(self.d_conv)]
            w["A"] = -torch.exp(w["attn.A_log"])  # [Di, N]
        elif kind != "gmu":
            lam = lambda s: torch.exp((w[f"attn.inner_cross_attn.lambda_q{s}"] * w[f"attn.inner_cross_attn.lambda_k{s}"]).sum())
            lambda_init = 0.8 - 0.6 * math.exp(-0.3 * i)
            w["lambda"] = float(lam(1) - lam(2) + lambda_init)
            w["out_scale"] = 1 - lambda_init
        return w

    # --- state ------------------------------------------------------------------------------------

    def new_state(self, batch: int, rows: int, context: int) -> dict:
        """State for `batch` sequences at position `context`, room for `rows` positions in full caches.
        A context > 0 is filled with random values, as the engine's benchmark does: decode cost does not
        depend on them."""
        fill = (lambda *shape: torch.empty(*shape).uniform_(-1, 1)) if context > 0 else torch.zeros
        state = {"pos": context, "layers": []}
        for kind in self.kinds:
            if kind == "mamba":
                state["layers"].append(
                    {"conv": fill(batch, self.d_conv, self.d_inner), "ssm": fill(batch, self.d_inner, self.d_state)}
                )
            elif kind in ("sliding_attention", "full_attention"):
                n = self.window if kind == "sliding_attention" else rows
                state["layers"].append({"k": fill(batch, self.kv, n, self.hd), "v": fill(batch, self.kv, n, self.hd)})
            else:
                state["layers"].append(None)
        return state

    # --- blocks -----------------------------------------------------------------------------------

    def mamba(self, w: dict, h: torch.Tensor, s: dict, pos: int) -> tuple:
        x, z = F.linear(h, w["attn.in_proj.weight"]).chunk(2, dim=-1)  # [B, Di] each
        s["conv"][:, pos % self.d_conv] = x
        taps = w["rolled_conv"][(pos + 1) % self.d_conv]  # [K, Di]
        xc = (s["conv"] * taps).sum(1)
        if "attn.conv1d.bias" in w:
            xc = xc + w["attn.conv1d.bias"]
        xc = F.silu(xc)
        dbc = F.linear(xc, w["attn.x_proj.weight"])
        rank = w["attn.dt_proj.weight"].shape[1]
        dtl, b, c = dbc.split([rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(F.linear(dtl, w["attn.dt_proj.weight"], w["attn.dt_proj.bias"]))  # [B, Di]
        ssm = s["ssm"]  # [B, Di, N]
        ssm.mul_(torch.exp(dt.unsqueeze(-1) * w["A"])).add_((dt * xc).unsqueeze(-1) * b.unsqueeze(1))
        y = torch.bmm(ssm, c.unsqueeze(-1)).squeeze(-1) + w["attn.D"] * xc
        return F.linear(y * F.silu(z), w["attn.out_proj.weight"]), y

    def attention(self, i: int, w: dict, h: torch.Tensor, caches: list, pos: int) -> torch.Tensor:
        kind, b = self.kinds[i], h.shape[0]
        qkv = F.linear(h, w["attn.Wqkv.weight"], w["attn.Wqkv.bias"])
        q = qkv[:, : self.d]
        if kind == "cross_attention":
            cache, rows = caches[self.kv_source], pos + 1
        else:
            cache = caches[i]
            k, v = qkv[:, self.d :].view(b, 2, self.kv, self.hd).unbind(1)
            row = pos % self.window if kind == "sliding_attention" else pos
            cache["k"][:, :, row] = k
            cache["v"][:, :, row] = v
            rows = min(pos + 1, self.window) if kind == "sliding_attention" else pos + 1
        keys, values = cache["k"][:, :, :rows], cache["v"][:, :, :rows]  # views [B, KV, rows, hd]
        # Query head 2 (iG + j) + s reads KV head 2i + s (stripe s of KV pair i): group the queries by it.
        half = self.kv // 2
        qg = q.view(b, half, self.group, 2, self.hd).transpose(2, 3).reshape(b, self.kv, self.group, self.hd)
        scores = torch.matmul(qg, keys.transpose(-1, -2)) * (1 / math.sqrt(self.hd))  # [B, KV, G, rows]
        probs = torch.softmax(scores, dim=-1).view(b, half, 1, 2 * self.group, rows)  # (s, G) rows per pair
        mixed = torch.matmul(probs, values.view(b, half, 2, rows, self.hd))  # [B, i, t, (s, G), hd]
        mixed = mixed.view(b, half, 2, 2, self.group, self.hd)  # [B, i, t, s, G, hd]
        diff = mixed[:, :, :, 0] - w["lambda"] * mixed[:, :, :, 1]  # [B, i, t, G, hd]
        diff = diff.permute(0, 1, 3, 2, 4).reshape(b, half * self.group, 2 * self.hd)  # pair j: [v_2i || v_2i+1]
        normed = diff * torch.rsqrt(diff.pow(2).mean(-1, keepdim=True) + 1e-5) * w["attn.inner_cross_attn.subln.weight"]
        out = (normed * w["out_scale"]).reshape(b, self.d)
        return F.linear(out, w["attn.out_proj.weight"], w["attn.out_proj.bias"])

    def norm(self, x: torch.Tensor, w: dict, name: str) -> torch.Tensor:
        return F.layer_norm(x, (self.d,), w[f"{name}.weight"], w[f"{name}.bias"], self.eps)

    def step(self, ids: torch.Tensor, state: dict) -> torch.Tensor:
        """One token per sequence: ids [B] -> logits [B, vocab]; the state moves one position on."""
        pos, caches = state["pos"], state["layers"]
        x = self.w["model.embed_tokens.weight"][ids]
        memory = None
        for i, (kind, w) in enumerate(zip(self.kinds, self.layers)):
            h = self.norm(x, w, "input_layernorm")
            if kind == "mamba":
                out, y = self.mamba(w, h, caches[i], pos)
                if i == self.memory_layer:
                    memory = y
            elif kind == "gmu":
                out = F.linear(F.silu(F.linear(h, w["attn.in_proj.weight"])) * memory, w["attn.out_proj.weight"])
            else:
                out = self.attention(i, w, h, caches, pos)
            x = x + out
            gate, up = F.linear(self.norm(x, w, "post_attention_layernorm"), w["mlp.fc1.weight"]).chunk(2, dim=-1)
            x = x + F.linear(up * F.silu(gate), w["mlp.fc2.weight"])
        state["pos"] = pos + 1
        return F.linear(self.norm(x, self.w, "model.final_layernorm"), self.head_weight)


def blas_libraries() -> list:
    """The shared libraries with BLAS in their name that this process has loaded, after one matmul."""
    torch.mm(torch.ones(2, 2), torch.ones(2, 2))
    with open("/proc/self/maps") as maps:
        return sorted({line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line})


def serve(model: Model) -> None:
    for line in sys.stdin:
        request = json.loads(line)
        if request["cmd"] == "logits":
            state = model.new_state(1, len(request["ids"]), 0)
            rows = [model.step(torch.tensor([i]), state)[0].tolist() for i in request["ids"]]
            reply = {"logits": rows}
        elif request["cmd"] == "step":
            n, b, warmup, steps = (request[k] for k in ("context", "batch", "warmup", "steps"))
            state = model.new_state(b, n + warmup + steps, n)
            ids = torch.ones(b, dtype=torch.long)  # the engine's benchmark feeds token 1 too
            for _ in range(warmup):
                model.step(ids, state)
            times = []
            for _ in range(steps):
                start = perf_counter_ns()
                model.step(ids, state)
                times.append((perf_counter_ns() - start) / 1e6)
            reply = {"ms": float(np.median(times))}
        else:
            reply = {"error": f"unknown command {request['cmd']}"}
        print(json.dumps(reply), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--plan", required=True, help='{"kinds": [...], "memory_layer": i, "kv_source_layer": j}')
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = Model(args.model, json.loads(args.plan))
    ready = {"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_libraries()}
    print(json.dumps(ready), flush=True)
    with torch.inference_mode():
        serve(model)


if __name__ == "__main__":
    main()
