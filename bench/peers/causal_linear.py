#!/usr/bin/python3
"""Plain-PyTorch peer of bench_linear_attention's BM_CausalLinearFwdBwd / BM_CausalSoftmaxFwdBwd.

Causal attention forward + backward, batch 1, one head of d = 64, on the same sizes:
  linear  -- the chunked form (chunk 64) on precomputed features 1 + elu, written plainly with
             autograd (no custom backward, so autograd keeps the per-chunk states);
  softmax -- explicit probabilities softmax(q k^T / sqrt(d) + causal mask) v.
Prints one JSON object: {"torch": ..., "threads": ..., "results": [{"kind", "N", "ms_median",
"ms_min", "runs"}, ...]}.

Run it with Debian's /usr/bin/python3 (python3-torch: the same LibTorch as the C++ side). Threads
follow OMP_NUM_THREADS, like the C++ benchmarks.
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

D = 64
CHUNK = 64


def causal_linear_chunked(fq, fk, v, chunk=CHUNK, eps=1e-6):
    """y_n = sum_{i<=n} (fq_n . fk_i) v_i / (sum_{i<=n} fq_n . fk_i + eps), chunk by chunk."""
    b, h, n, d = fq.shape
    t = (n + chunk - 1) // chunk
    pad = t * chunk - n
    v1 = torch.cat([v, torch.ones_like(v[..., :1])], -1)  # the ones column gives the normaliser
    q, k, v1 = (F.pad(x, (0, 0, 0, pad)).reshape(b, h, t, chunk, -1) for x in (fq, fk, v1))
    per_chunk = k.transpose(-1, -2) @ v1  # [b, h, t, d, dv + 1]
    states = torch.cat([torch.zeros_like(per_chunk[:, :, :1]), per_chunk.cumsum(2)[:, :, :-1]], 2)
    out = q @ states + (q @ k.transpose(-1, -2)).tril() @ v1
    out = out.reshape(b, h, t * chunk, -1)[:, :, :n]
    return out[..., :-1] / (out[..., -1:] + eps)


def causal_softmax(q, k, v):
    n = q.shape[2]
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    mask = torch.ones(n, n, dtype=torch.bool).tril()
    probs = torch.softmax(logits.masked_fill(~mask, torch.finfo(logits.dtype).min), -1)
    return probs @ v


def make_case(kind, n):
    torch.manual_seed(0)
    grad_out = torch.randn(1, 1, n, D)
    v = torch.randn(1, 1, n, D, requires_grad=True)
    if kind == "linear":
        fq = (F.elu(torch.randn(1, 1, n, D)) + 1).requires_grad_()
        fk = (F.elu(torch.randn(1, 1, n, D)) + 1).requires_grad_()
        inputs, fn = (fq, fk, v), causal_linear_chunked
    else:
        q = torch.randn(1, 1, n, D, requires_grad=True)
        k = torch.randn(1, 1, n, D, requires_grad=True)
        inputs, fn = (q, k, v), causal_softmax

    def run():
        out = fn(*inputs)
        torch.autograd.grad(out, inputs, grad_out)

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1024,2048,4096,8192,16384")
    parser.add_argument("--kinds", default="linear,softmax")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per case (>= 1 run)")
    args = parser.parse_args()
    threads = int(os.environ.get("OMP_NUM_THREADS", "0"))
    if threads > 0:
        torch.set_num_threads(threads)
    results = []
    for kind in args.kinds.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            run = make_case(kind, n)
            run()  # warm-up
            times, start = [], time.perf_counter()
            while not times or time.perf_counter() - start < args.min_time:
                t0 = time.perf_counter()
                run()
                times.append((time.perf_counter() - t0) * 1e3)
            results.append({"kind": kind, "N": n, "ms_median": statistics.median(times),
                            "ms_min": min(times), "runs": len(times)})
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
