#!/usr/bin/python3
"""Plain-PyTorch peer of bench_train_step's BM_TrainStepVit.

The same ViT (HF ViTForImageClassification layout: patch Conv2d, CLS token, learned position
embeddings, pre-LN blocks with explicit softmax attention, erf GELU, LayerNorm eps 1e-6, classifier
on the final-LayerNormed CLS token) and the same step (zero_grad, forward, cross-entropy, backward,
AdamW lr 1e-3 wd 0.05) on a batch of 128 random 1x28x28 images. Prints one JSON object:
{"ms_per_step": mean, "step_median_ms": ..., "step_min_ms": ..., "step_cpu_median_ms": (process
CPU time, all threads), "steps": ..., "threads": ..., "torch": ...}.

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
from torch import nn
import torch.nn.functional as F

# Keep in sync with bench/bench_train_step.cpp (kVitConfig).
CONFIG = dict(image_size=28, patch_size=4, num_channels=1, hidden_size=64, num_hidden_layers=4,
              num_attention_heads=4, intermediate_size=256, num_labels=10, hidden_dropout_prob=0.0,
              attention_probs_dropout_prob=0.0, layer_norm_eps=1e-6)
BATCH = 128
LR = 1e-3
WEIGHT_DECAY = 0.05


class Attention(nn.Module):
    """HF ViTSelfAttention + ViTSelfOutput: explicit probabilities, as attnd's softmax mixer."""

    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.head_dim = d // self.heads
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.value = nn.Linear(d, d)
        self.attn_dropout = nn.Dropout(c["attention_probs_dropout_prob"])
        self.dense = nn.Linear(d, d)
        self.out_dropout = nn.Dropout(c["hidden_dropout_prob"])

    def split(self, x):
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        logits = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        probs = self.attn_dropout(torch.softmax(logits, dim=-1))
        ctx = torch.matmul(probs, v).transpose(1, 2).contiguous()
        return self.out_dropout(self.dense(ctx.view(x.shape[0], x.shape[1], -1)))


class Layer(nn.Module):
    """HF ViTLayer (pre-LN)."""

    def __init__(self, c):
        super().__init__()
        d, eps = c["hidden_size"], c["layer_norm_eps"]
        self.layernorm_before = nn.LayerNorm(d, eps=eps)
        self.attention = Attention(c)
        self.layernorm_after = nn.LayerNorm(d, eps=eps)
        self.intermediate = nn.Linear(d, c["intermediate_size"])
        self.output = nn.Linear(c["intermediate_size"], d)
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, x):
        h = self.attention(self.layernorm_before(x)) + x
        return self.dropout(self.output(F.gelu(self.intermediate(self.layernorm_after(h))))) + h


class ViT(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        patches = (c["image_size"] // p) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d).normal_(0, 0.02))
        self.position_embeddings = nn.Parameter(torch.zeros(1, patches + 1, d).normal_(0, 0.02))
        self.projection = nn.Conv2d(c["num_channels"], d, kernel_size=p, stride=p)
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.layernorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.classifier = nn.Linear(d, c["num_labels"])

    def forward(self, pixel_values):
        x = self.projection(pixel_values).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.dropout(x + self.position_embeddings)
        for layer in self.layers:
            x = layer(x)
        # LayerNorm is per token: norming the CLS row equals HF's layernorm(x)[:, 0] (attnd's order).
        return self.classifier(self.layernorm(x[:, 0]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    args = parser.parse_args()

    threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = ViT(CONFIG)
    model.train()
    # The C++ defaults: AdamW single-tensor loop, zero_grad zeroes (not frees) the gradients.
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY,
                                  foreach=False)
    images = torch.rand(BATCH, CONFIG["num_channels"], CONFIG["image_size"], CONFIG["image_size"])
    labels = torch.randint(0, CONFIG["num_labels"], (BATCH,))

    def step():
        optimizer.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    times, cpu_times = [], []
    for _ in range(args.steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        cpu_times.append(1000.0 * (time.process_time() - cpu_start))
        times.append(1000.0 * (time.perf_counter() - start))
    print(json.dumps({"ms_per_step": statistics.fmean(times),
                      "step_median_ms": statistics.median(times), "step_min_ms": min(times),
                      "step_cpu_median_ms": statistics.median(cpu_times),
                      "steps": args.steps, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
