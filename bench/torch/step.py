"""The PyTorch peer of `ifa-ssl bench step`: the same whole training step, eager fp32, as PyTorch users
write it. ResNet-50 with torchvision's topology (v1.5, stride on the 3x3 conv; torchvision's own
resnet50 when torchvision is installed, else the same network defined below), a 1-channel conv1 and
the MLP head 2048->2048->128; MoCo v2 (queue K, m 0.999, T 0.2, key encoder by EMA of the parameters,
InfoNCE with the positive at index 0, keys enqueued after the step) or SimCLR (NT-Xent, T 0.1), plus
IFA on block 3 as src/ops/ifa.ts defines it: mean over B*H*W of |target - cos(q, p)| over channels,
F.cosine_similarity with eps 1e-6 (P = the key encoder's features, no gradient, for MoCo; the other
view's, with gradient, for SimCLR). SGD momentum 0.9, wd 1e-4, lr 0.03*batch/256 on the cosine
schedule. Fixed N(0,1) inputs; median of --steps timed steps after --warmup. Prints one JSON object
with the fields of `ifa-ssl bench step --json`.
--precision as PyTorch users run it: fp32 (exact: cuDNN's and cuBLAS's TF32 off), tf32 (PyTorch's
defaults: TF32 convolutions, exact matmuls), bf16 or fp16 (torch.autocast, the models and inputs in
channels_last unless --channels-last off; fp16 with torch.cuda.amp.GradScaler). --mode compile runs
the encoders' forward through torch.compile (PyTorch 2).
Run with Debian's interpreter: /usr/bin/python3 bench/torch/step.py --method moco --image-size 64 --batch 8
"""
import argparse
import contextlib
import copy
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--method", choices=["moco", "simclr"], default="moco")
ap.add_argument("--image-size", type=int, default=64)
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--queue", type=int, default=65536)
ap.add_argument("--ifa", action="append", help="block[:target[:weight]], default 3:1:1")
ap.add_argument("--no-ifa", action="store_true")
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--device", default="cpu")
ap.add_argument("--layers", default="3,4,6,3")
ap.add_argument("--width", type=int, default=64)
ap.add_argument("--precision", choices=["fp32", "tf32", "bf16", "fp16"], default="fp32")
ap.add_argument("--mode", choices=["eager", "compile"], default="eager")
ap.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto", help="auto: on for bf16 and fp16")
a = ap.parse_args()
if a.method == "moco" and a.queue % a.batch:
    raise SystemExit(f"--queue {a.queue} must be a multiple of --batch {a.batch}")
torch.set_num_threads(a.threads)
torch.manual_seed(0)
dev = torch.device(a.device)
layers = [int(v) for v in a.layers.split(",")]
terms = [] if a.no_ifa else [tuple(float(x) for x in (t.split(":") + ["1", "1"])[:3]) for t in (a.ifa or ["3:1:1"])]
terms = [(int(b), t, w) for b, t, w in terms]
if dev.type == "cuda":
    torch.backends.cudnn.allow_tf32 = a.precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = False
half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision)
if half is torch.float16 and dev.type != "cuda":
    raise SystemExit("--precision fp16 needs --device cuda (CPU autocast takes bfloat16 only)")
if a.mode == "compile" and not hasattr(torch, "compile"):
    raise SystemExit(f"--mode compile needs PyTorch 2 (torch.compile); this is PyTorch {torch.__version__}")
channels_last = a.channels_last == "on" or (a.channels_last == "auto" and half is not None)
fmt = torch.channels_last if channels_last else torch.contiguous_format


def autocast():
    return torch.autocast(device_type=dev.type, dtype=half) if half is not None else contextlib.nullcontext()



class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    def __init__(self, layers, width):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes, stages = width, []
        for i, n in enumerate(layers):
            planes = width * 2 ** i
            blocks = []
            for b in range(n):
                blocks.append(Bottleneck(inplanes, planes, (1 if i == 0 else 2) if b == 0 else 1))
                inplanes = planes * 4
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, 1000)


def make_encoder():
    net = None
    if layers == [3, 4, 6, 3] and a.width == 64:
        try:
            import torchvision

            net = torchvision.models.resnet50()
            net.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
        except ImportError:
            pass
    impl = "torchvision" if net is not None else "torchvision topology (bench/torch/step.py)"
    if net is None:
        net = ResNet(layers, a.width)
    feat = net.fc.in_features
    net.fc = nn.Sequential(nn.Linear(feat, 2048), nn.ReLU(inplace=True), nn.Linear(2048, 128))
    return net.to(dev, memory_format=fmt), impl


def forward_taps(net, x):
    h = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    outs = []
    for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
        h = stage(h)
        outs.append(h)
    out = net.fc(torch.flatten(net.avgpool(h), 1))
    return out, [outs[b - 1] for b, _, _ in terms]


def ifa(q, p, target):
    return (target - F.cosine_similarity(q, p, dim=1, eps=1e-6)).abs().mean()


enc_q, impl = make_encoder()
params = list(enc_q.parameters())
opt = torch.optim.SGD(params, lr=0.0, momentum=0.9, weight_decay=1e-4)
total_steps = a.warmup + a.steps
peak_lr = 0.03 * a.batch / 256
shape = (a.batch, 1, a.image_size, a.image_size)
x1 = torch.randn(shape, device=dev).contiguous(memory_format=fmt)
x2 = torch.randn(shape, device=dev).contiguous(memory_format=fmt)
scaler = torch.cuda.amp.GradScaler() if a.precision == "fp16" else None
encode = torch.compile(forward_taps) if a.mode == "compile" else forward_taps
if a.method == "moco":
    enc_k = copy.deepcopy(enc_q)
    for p in enc_k.parameters():
        p.requires_grad = False
    queue = F.normalize(torch.randn(a.queue, 128, device=dev), dim=1)
    ptr = 0
    T = 0.2
else:
    T = 0.1


def step():
    global ptr
    with autocast():
        if a.method == "moco":
            q, q_taps = encode(enc_q, x1)
            q = F.normalize(q.float(), dim=1)
            with torch.no_grad():
                for pk, pq in zip(enc_k.parameters(), enc_q.parameters()):
                    pk.mul_(0.999).add_(pq.detach(), alpha=0.001)
                k, k_taps = encode(enc_k, x2)
                k = F.normalize(k.float(), dim=1)
            logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1) / T
            loss = F.cross_entropy(logits.float(), torch.zeros(a.batch, dtype=torch.long, device=dev))
            p_taps = k_taps
        else:
            za, q_taps = encode(enc_q, x1)
            zb, p_taps = encode(enc_q, x2)
            z = torch.cat([F.normalize(za.float(), dim=1), F.normalize(zb.float(), dim=1)])
            sim = (z @ z.t()).float() / T
            sim = sim - 1e9 * torch.eye(2 * a.batch, device=dev)
            n = a.batch
            labels = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(dev)
            loss = F.cross_entropy(sim, labels)
        for (b, t, w), qt, pt in zip(terms, q_taps, p_taps):
            loss = loss + w * ifa(qt.float(), pt.float(), t)
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()
    if a.method == "moco":
        with torch.no_grad():
            queue[ptr : ptr + a.batch] = k.float()
        ptr = (ptr + a.batch) % a.queue
    return loss


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


times, hosts = [], []
last = float("nan")
for i in range(total_steps):
    for g in opt.param_groups:
        g["lr"] = 0.5 * peak_lr * (1 + math.cos(math.pi * i / total_steps))
    if i == a.warmup and dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    loss = step()
    host = time.perf_counter() - t0
    last = loss.item()  # the trainer reads its losses every step
    sync()
    ms = (time.perf_counter() - t0) * 1e3
    if not math.isfinite(last):
        raise SystemExit(f"the loss became {last} at step {i + 1}")
    if i >= a.warmup:
        times.append(ms)
        hosts.append(host * 1e3)


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


med = median(times)
print(json.dumps({
    "bench": "step", "impl": "pytorch", "torch": torch.__version__, "model": impl, "method": a.method,
    "device": a.device, "image_size": a.image_size, "batch": a.batch, "queue": a.queue if a.method == "moco" else None,
    "ifa": [{"block": b, "target": t, "weight": w} for b, t, w in terms], "layers": layers, "width": a.width,
    "precision": a.precision, "mode": a.mode, "channels_last": channels_last, "threads": torch.get_num_threads(), "warmup": a.warmup, "steps": a.steps,
    "median_ms": round(med, 3), "min_ms": round(min(times), 3), "img_per_s": round(a.batch * 1000 / med, 2),
    # Eager CPU ops run as they are called: host time is the whole step there.
    "host_ms": round(median(hosts), 3),
    # PyTorch exposes no CPU allocator peak; the process's peak RSS is given instead.
    "peak_bytes": torch.cuda.max_memory_allocated() if dev.type == "cuda" else None,
    "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "kernels_per_step": None, "loss": last,
}))
