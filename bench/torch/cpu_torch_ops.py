"""The CPU peer for `npm run bench:cpu`: Debian's PyTorch 1.13 (python3-torch), 2 threads, NCHW fp32,
doing the same work as `ifa-ssl bench` (adapted from ../shared/anchors/cpu_torch_ops.py and
cpu_torch.py). Prints one JSON object: {name: {"median_ms", "GFLOPs"?}}.
Run with Debian's interpreter: /usr/bin/python3 bench/torch/cpu_torch_ops.py [iters]
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)
ITERS = int(sys.argv[1]) if len(sys.argv) > 1 else 9


def median_ms(fn, n=ITERS):
    fn()
    fn()
    ts = []
    for _ in range(n):
        a = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - a)
    ts.sort()
    return ts[n // 2] * 1e3


out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
for name, b, ci, co, k, s, hw in [("conv 3x3 64->64 @56", 8, 64, 64, 3, 1, 56), ("conv 1x1 256->64 @56", 8, 256, 64, 1, 1, 56),
                                   ("conv 3x3 256->256 @14", 8, 256, 256, 3, 1, 14), ("conv 7x7 s2 1->64 @128", 8, 1, 64, 7, 2, 128)]:
    conv = nn.Conv2d(ci, co, k, s, k // 2, bias=False)
    x = torch.randn(b, ci, hw, hw, requires_grad=True)
    ho = (hw + 2 * (k // 2) - k) // s + 1
    fl = 2 * b * co * ho * ho * ci * k * k
    with torch.no_grad():
        f = median_ms(lambda: conv(x))
    g = torch.randn(b, co, ho, ho)

    def fb():
        x.grad = None
        conv.weight.grad = None
        conv(x).backward(g)

    fbt = median_ms(fb)
    out[name + " forward"] = {"median_ms": round(f, 3), "GFLOPs": round(fl / f / 1e6, 1)}
    out[name + " both"] = {"median_ms": round(fbt, 3), "GFLOPs": round(3 * fl / fbt / 1e6, 1)}

x = torch.randn(8, 256, 56, 56, requires_grad=True)
bn = nn.BatchNorm2d(256)
g = torch.randn_like(x)


def bnf():
    x.grad = None
    F.relu(bn(x)).backward(g)


out["bn+relu 8x56x56x256 both"] = {"median_ms": round(median_ms(bnf), 3)}
q = torch.randn(16, 1024, 8, 8, requires_grad=True)
p = torch.randn(16, 1024, 8, 8)


def ifa():
    q.grad = None
    (1 - F.cosine_similarity(q, p, dim=1, eps=1e-6)).abs().mean().backward()


out["ifa 16x8x8x1024 both"] = {"median_ms": round(median_ms(ifa, max(ITERS, 21)), 3)}
print(json.dumps(out))
