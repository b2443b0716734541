"""The GPU peer of `ifa-ssl bench <ifa|bn> --backend cuda --json` (issue 4): the same work in PyTorch,
NCHW fp32, timed with CUDA events (median of ITERS runs after warm-up), plus a device-to-device copy
that measures the bandwidth the floors are computed against. Prints one JSON object:
  {"torch", "device", "copy": {"GBps"}, "<work>": {"median_ms", "min_ms", "floor_ms", "x_floor"}, ...}
floor_ms = floor bytes / copy bandwidth; x_floor = median_ms / floor_ms.
  IFA fwd+bwd on q, p [N,C,H,W] (q requires grad): floor 3·|q|·4 bytes (read q and p once, write dq).
  BN+ReLU fwd+bwd (training) on [128,256,56,56]: floor 8·|x|·4 bytes (two-pass forward and backward).
Usage on the GPU machine: python3 bench/torch/cuda_ops.py [iters] [--no-compile]
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

ITERS = max(20, int(sys.argv[1])) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 20
COMPILE = "--no-compile" not in sys.argv
dev = torch.device("cuda")
torch.manual_seed(0)
torch.backends.cudnn.benchmark = True


def time_ms(fn, iters=ITERS, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(iters):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    return ts[len(ts) // 2], ts[0]


out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "iters": ITERS}

# Device-to-device copy: 1 GiB read + 1 GiB written.
src = torch.randn(256 * 1024 * 1024, device=dev)
dst = torch.empty_like(src)
med, mn = time_ms(lambda: dst.copy_(src))
copy_gbps = 2 * src.numel() * 4 / (med * 1e6)
out["copy"] = {"bytes": 2 * src.numel() * 4, "median_ms": round(med, 4), "GBps": round(copy_gbps, 1)}
del src, dst


def report(name, med, mn, floor_bytes, **extra):
    floor_ms = floor_bytes / (copy_gbps * 1e6)
    out[name] = {"median_ms": round(med, 4), "min_ms": round(mn, 4), "floor_bytes": floor_bytes, "floor_ms": round(floor_ms, 4),
                 "x_floor": round(med / floor_ms, 3), **extra}


def ifa_loss(q, p, target=1.0, eps=1e-6):
    return (target - F.cosine_similarity(q, p, dim=1, eps=eps)).abs().mean()


for n, h, w, c in [(128, 14, 14, 1024), (32, 32, 32, 1024)]:
    q = torch.randn(n, c, h, w, device=dev, requires_grad=True)
    p = torch.randn(n, c, h, w, device=dev)
    variants = [("eager", ifa_loss)]
    if COMPILE:
        try:
            variants.append(("compile", torch.compile(ifa_loss)))
        except Exception as e:  # no triton / old torch
            out[f"ifa [{n},{h},{w},{c}] compile"] = {"error": str(e)[:200]}
    for label, fn in variants:
        def step(fn=fn):
            q.grad = None
            fn(q, p).backward()
        try:
            med, mn = time_ms(step)
            report(f"ifa [{n},{h},{w},{c}] fwd+bwd {label}", med, mn, 3 * q.numel() * 4, layout="NCHW")
        except Exception as e:
            out[f"ifa [{n},{h},{w},{c}] fwd+bwd {label}"] = {"error": str(e)[:200]}
    del q, p

x = torch.randn(128, 256, 56, 56, device=dev, requires_grad=True)
bn = nn.BatchNorm2d(256).to(dev)
g = torch.randn_like(x)


def bn_step():
    x.grad = None
    bn.weight.grad = None
    bn.bias.grad = None
    F.relu(bn(x)).backward(g)


med, mn = time_ms(bn_step)
report("bn+relu [128,56,56,256] fwd+bwd", med, mn, 8 * x.numel() * 4, layout="NCHW")

print(json.dumps(out, indent=1))
