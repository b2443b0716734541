"""The GPU peer of `ifa-ssl bench <ifa|bn|conv> --backend cuda --json` (issue 4): the same work in
PyTorch, fp32, timed with CUDA events (median of ITERS runs after warm-up), plus a device-to-device copy
that measures the bandwidth the floors are computed against. bench/gpu/check.sh runs it beside our
benches and bench/gpu/table.ts turns both into the ratio table.

Prints one JSON object on stdout (progress goes to stderr):
  {"torch", "cuda", "cudnn", "device", "iters", "copy": {"bytes", "median_ms", "GBps"},
   "results": [{"work", "variant", "shape", "pass", "median_ms", "min_ms", ...}, ...]}
shape is always NHWC order [N, H, W, C], as ifa-ssl's --shape, whatever the layout PyTorch ran in.
  ifa  fwd+bwd of (1 - cosine_similarity(q, p, dim=1)).abs().mean() on q, p [N,C,H,W] (q needs grad),
       variants "eager" and "compile" (torch.compile, static shapes); floor 3N·4 bytes (read q and p
       once, write dq), floor_ms = floor_bytes / copy bandwidth, x_floor = median_ms / floor_ms.
  bn   BatchNorm2d(training) + ReLU fwd+bwd on [128,256,56,56] NCHW, variant "eager"; floor 8N·4 bytes
       (two-pass forward and backward), anchor_bytes 5N·4 (../shared/anchors/README.md's count).
  conv the ResNet-50 layers of src/bench/ops.ts's RESNET50_CONV_LAYERS (same names; conv1_rgb is the
       anchors' 3-channel stem, conv1_1ch the same with the 1-channel radiograph input), cuDNN through nn.Conv2d (no bias, padding k//2),
       channels_last (NHWC, our layout), pass "forward" and "both" (forward + input and weight
       gradients), one result per precision of --conv-precisions, variant "cudnn-<precision>" and
       "precision": fp32 (float32, TF32 disallowed), tf32 (float32, TF32 allowed for convolutions),
       bf16 and fp16 (input, weight and output gradient in that dtype; no autocast); flops
       2·N·Ho·Wo·Cout·Cin·K² forward, 3× with the gradients. A precision the device cannot run (fp16
       convolutions on PyTorch 1.13's CPU) gives {"skipped": reason} entries instead of timings.
A section that fails adds {"work", "error"} and the rest still runs. With --out FILE the JSON is also
written to FILE after every result ("complete": false until the end), so a run stopped by a timeout
leaves what it measured.
Exit status: 0 done (errors inside results are data), 2 skipped (no PyTorch, or no CUDA device:
{"skipped": reason} is printed), 1 crashed.

Usage (GPU machine): python3 bench/torch/cuda_ops.py [iters] [--no-compile] [--only ifa,bn,conv]
                     [--conv-batch 128] [--conv-layers conv1_rgb,3x3_64_64_56,...]
                     [--conv-precisions fp32,tf32,bf16,fp16] [--conv-iters N] [--out FILE]
The copy bandwidth is measured only with ifa or bn (their floors need it).
Without a GPU, `--cpu-smoke` runs every code path on the CPU with tiny shapes and wall-clock timing
(the numbers mean nothing; it checks the script before a device call).
"""
import argparse
import json
import math
import os
import sys
import time

# Mirrors RESNET50_CONV_LAYERS in src/bench/ops.ts: name -> (hw, cin, cout, kernel, stride).
LAYERS = {
    "conv1_rgb": (224, 3, 64, 7, 2),
    "conv1_1ch": (224, 1, 64, 7, 2),
    "1x1_256_64_56": (56, 256, 64, 1, 1),
    "3x3_64_64_56": (56, 64, 64, 3, 1),
    "3x3_256_256_14": (14, 256, 256, 3, 1),
    "1x1_1024_256_14": (14, 1024, 256, 1, 1),
    "3x3_512_512_7": (7, 512, 512, 3, 1),
}
CONV_PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
IFA_SHAPES = [(128, 14, 14, 1024), (32, 32, 32, 1024)]
BN_SHAPE = (128, 56, 56, 256)

T0 = time.time()


def log(msg):
    print(f"[cuda_ops +{time.time() - T0:5.1f}s] {msg}", file=sys.stderr, flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("iters", nargs="?", type=int, default=20, help="timed runs per case (at least 20)")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile for IFA")
    ap.add_argument("--only", default="ifa,bn,conv", help="comma list of ifa, bn, conv")
    ap.add_argument("--conv-batch", type=int, default=128)
    ap.add_argument("--conv-layers", default=",".join(LAYERS), help="comma list of layer names")
    ap.add_argument("--conv-precisions", default=",".join(CONV_PRECISIONS), help="comma list of fp32, tf32, bf16, fp16")
    ap.add_argument("--conv-iters", type=int, help="timed runs per conv case (default: iters; no minimum of 20)")
    ap.add_argument("--out", help="also write the JSON here, after every result")
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny shapes on the CPU, to test the script")
    a = ap.parse_args(argv)
    a.iters = max(20, a.iters)
    a.only = {s.strip() for s in a.only.split(",") if s.strip()}
    a.conv_layers = [s.strip() for s in a.conv_layers.split(",") if s.strip()]
    bad = [s for s in a.conv_layers if s not in LAYERS]
    if bad:
        ap.error(f"unknown --conv-layers {bad}; known: {', '.join(LAYERS)}")
    a.conv_precisions = [s.strip() for s in a.conv_precisions.split(",") if s.strip()]
    bad = [s for s in a.conv_precisions if s not in CONV_PRECISIONS]
    if bad:
        ap.error(f"unknown --conv-precisions {bad}; known: {', '.join(CONV_PRECISIONS)}")
    if a.conv_iters is not None and a.conv_iters < 1:
        ap.error("--conv-iters must be at least 1")
    return a


def main(argv):
    args = parse_args(argv)
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "no PyTorch here"
        print(json.dumps({"skipped": f"PyTorch unavailable ({type(e).__name__}: {e})"}))
        return 2
    if not torch.cuda.is_available() and not args.cpu_smoke:
        print(json.dumps({"skipped": f"torch.cuda unavailable (torch {torch.__version__}, built for CUDA {torch.version.cuda})"}))
        return 2

    import torch.nn as nn
    import torch.nn.functional as F

    smoke = args.cpu_smoke
    dev = torch.device("cpu" if smoke else "cuda")
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    iters = args.iters
    ifa_shapes = [(2, 3, 3, 16), (1, 4, 4, 16)] if smoke else IFA_SHAPES
    bn_shape = (2, 4, 4, 8) if smoke else BN_SHAPE
    copy_numel = 1 << 20 if smoke else 256 * 1024 * 1024
    if smoke:
        args.conv_batch = 1

    def time_ms(fn, warmup=5, fixed_reps=None, n=None):
        # As `ifa-ssl bench` on cuda (src/bench/ops.ts repsFor): each sample times `reps` calls
        # enqueued back to back between two events, reps = ceil(2 ms / one call) within 1..10, so the
        # host's launch gaps overlap the GPU's work; per call.
        for _ in range(warmup):
            fn()
        if not smoke:
            torch.cuda.synchronize()
        reps = 1
        if not smoke:
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            one = a.elapsed_time(b)
            reps = max(1, min(10, math.ceil(2.0 / one))) if one > 0 else 10
        if fixed_reps is not None:
            reps = fixed_reps
        ts = []
        for _ in range(n or iters):
            if smoke:
                t = time.perf_counter()
                fn()
                ts.append((time.perf_counter() - t) * 1e3)
                continue
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            for _ in range(reps):
                fn()
            b.record()
            b.synchronize()
            ts.append(a.elapsed_time(b) / reps)
        ts.sort()
        mid = len(ts) // 2
        med = ts[mid] if len(ts) % 2 else (ts[mid - 1] + ts[mid]) / 2
        return med, ts[0]

    out = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "device": "cpu (--cpu-smoke)" if smoke else torch.cuda.get_device_name(0),
        "iters": iters,
        "results": [],
    }
    results = out["results"]

    class Results(list):
        """Saves the report to --out after every append."""

        def append(self, item):
            super().append(item)
            save(False)

    def save(complete):
        if not args.out:
            return
        out["complete"] = complete
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1)
        os.replace(tmp, args.out)

    results = out["results"] = Results()

    empty_cache = (lambda: None) if smoke else torch.cuda.empty_cache
    copy_gbps = None
    if args.only & {"ifa", "bn"}:
        # Device-to-device copy: 1 GiB read + 1 GiB written.
        src = torch.randn(copy_numel, device=dev)
        dst = torch.empty_like(src)
        med, _ = time_ms(lambda: dst.copy_(src))
        copy_gbps = 2 * src.numel() * 4 / (med * 1e6)
        out["copy"] = {"bytes": 2 * src.numel() * 4, "median_ms": round(med, 4), "GBps": round(copy_gbps, 1)}
        del src, dst
        empty_cache()
        log(f"copy {copy_gbps:.0f} GB/s on {out['device']}")
    save(False)

    def floor_fields(med, floor_bytes):
        floor_ms = floor_bytes / (copy_gbps * 1e6)
        return {"floor_bytes": floor_bytes, "floor_ms": round(floor_ms, 4), "x_floor": round(med / floor_ms, 3)}

    def guarded(entry, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - one failing case must not hide the others
            results.append({**entry, "error": f"{type(e).__name__}: {str(e)[:300]}"})
            log(f"{entry} failed: {type(e).__name__}: {str(e)[:200]}")

    if "ifa" in args.only:
        def ifa_loss(q, p, target=1.0, eps=1e-6):
            return (target - F.cosine_similarity(q, p, dim=1, eps=eps)).abs().mean()

        for n, h, w, c in ifa_shapes:
            q = torch.randn(n, c, h, w, device=dev, requires_grad=True)
            p = torch.randn(n, c, h, w, device=dev)
            variants = [("eager", lambda: ifa_loss)]
            if not args.no_compile:
                def compiled():
                    torch._dynamo.reset()  # a fresh static-shape graph per shape
                    return torch.compile(ifa_loss, dynamic=False)
                variants.append(("compile", compiled))
            for label, make in variants:
                entry = {"work": "ifa", "variant": label, "shape": [n, h, w, c], "pass": "both", "layout": "NCHW"}

                def run(entry=entry, make=make):
                    fn = make()

                    def step():
                        q.grad = None
                        fn(q, p).backward()

                    t = time.time()
                    med, mn = time_ms(step)
                    # Also one iteration between two events, host time included, as the anchors
                    # (../shared/anchors/torch_baselines.py) timed it: informational.
                    single, _ = time_ms(step, warmup=1, fixed_reps=1)
                    results.append({**entry, "median_ms": round(med, 4), "min_ms": round(mn, 4), "single_ms": round(single, 4),
                                    **floor_fields(med, 3 * q.numel() * 4)})
                    log(f"ifa {entry['shape']} {entry['variant']}: {med:.3f} ms (measured in {time.time() - t:.0f} s with warm-up)")

                guarded(entry, run)
            del q, p
            empty_cache()

    if "bn" in args.only:
        n, h, w, c = bn_shape
        entry = {"work": "bn", "variant": "eager", "shape": [n, h, w, c], "pass": "both", "layout": "NCHW", "relu": True}

        def run_bn():
            x = torch.randn(n, c, h, w, device=dev, requires_grad=True)
            bn = nn.BatchNorm2d(c).to(dev)
            g = torch.randn_like(x)

            def step():
                x.grad = None
                bn.weight.grad = None
                bn.bias.grad = None
                F.relu(bn(x)).backward(g)

            med, mn = time_ms(step)
            results.append({**entry, "median_ms": round(med, 4), "min_ms": round(mn, 4), **floor_fields(med, 8 * x.numel() * 4), "anchor_bytes": 5 * x.numel() * 4})
            log(f"bn {entry['shape']}: {med:.3f} ms")

        guarded(entry, run_bn)
        empty_cache()

    if "conv" in args.only:
        cudnn = torch.backends.cudnn

        def set_tf32(on):
            # PyTorch >= 2.9 has per-backend fp32_precision; older ones allow_tf32. Use one API only:
            # mixing the two is an error in recent versions.
            conv_cfg = getattr(cudnn, "conv", None)
            if conv_cfg is not None and hasattr(conv_cfg, "fp32_precision"):
                conv_cfg.fp32_precision = "tf32" if on else "ieee"
                return f"cudnn.conv.fp32_precision={conv_cfg.fp32_precision}"
            cudnn.allow_tf32 = on
            return f"cudnn.allow_tf32={on}"

        dtypes = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

        def unsupported(precision):
            # A tiny forward + backward in the dtype: PyTorch 1.13 has no fp16 convolution on the CPU
            # ("slow_conv2d_cpu" not implemented for 'Half'); the reason is logged and recorded.
            dt = dtypes[precision]
            try:
                x = torch.randn(1, 8, 5, 5, device=dev).to(dt).to(memory_format=torch.channels_last).requires_grad_()
                c = nn.Conv2d(8, 8, 3, padding=1, bias=False).to(dev).to(dt).to(memory_format=torch.channels_last)
                c(x).sum().backward()
                return None
            except Exception as e:  # noqa: BLE001 - whatever the reason, that precision cannot run here
                return f"{precision} convolution unsupported on {dev.type} (torch {torch.__version__}): {type(e).__name__}: {str(e)[:160]}"

        precisions = args.conv_precisions
        skip = {p: why for p in precisions if (why := unsupported(p))}
        for p, why in skip.items():
            log(f"conv {p}: skipped: {why}")
        conv_iters = out["conv_iters"] = args.conv_iters or iters
        bsz = args.conv_batch
        for name in args.conv_layers:
            hw, cin, cout, k, s = LAYERS[name]
            pad = k // 2
            ho = (hw + 2 * pad - k) // s + 1
            flops_fwd = 2 * bsz * cout * ho * ho * cin * k * k
            base = {"work": "conv", "layer": name, "shape": [bsz, hw, hw, cin], "kernel": k, "stride": s, "padding": pad, "cout": cout, "layout": "NHWC"}

            def run_precision(precision, base=base, cin=cin, cout=cout, k=k, s=s, pad=pad, hw=hw, flops_fwd=flops_fwd):
                dt = dtypes[precision]
                # fp32/tf32 and bf16/fp16 alike: input, weight and output gradient in the dtype,
                # channels_last; cuDNN accumulates in fp32 and picks its algorithms (benchmark=True).
                x = torch.randn(bsz, cin, hw, hw, device=dev).to(dt).to(memory_format=torch.channels_last).requires_grad_()
                conv = nn.Conv2d(cin, cout, k, stride=s, padding=pad, bias=False).to(dev).to(dt).to(memory_format=torch.channels_last)
                with torch.no_grad():
                    g = torch.randn_like(conv(x))

                def fwd():
                    with torch.no_grad():
                        conv(x)

                def both():
                    x.grad = None
                    conv.weight.grad = None
                    conv(x).backward(g)

                setting = set_tf32(precision == "tf32")
                if dt != torch.float32:
                    setting = f"dtype={str(dt).replace('torch.', '')}"
                for pass_name, fn, flops in (("forward", fwd, flops_fwd), ("both", both, 3 * flops_fwd)):
                    entry = {**base, "variant": f"cudnn-{precision}", "precision": precision, "pass": pass_name, "setting": setting}

                    def one(entry=entry, fn=fn, flops=flops):
                        med, mn = time_ms(fn, warmup=3, n=conv_iters)
                        results.append({**entry, "median_ms": round(med, 4), "min_ms": round(mn, 4), "flops": flops, "TFLOPs": round(flops / med / 1e9, 3)})

                    guarded(entry, one)

            for precision in precisions:
                entry = {**base, "variant": f"cudnn-{precision}", "precision": precision}
                if precision in skip:
                    for pass_name in ("forward", "both"):
                        results.append({**entry, "pass": pass_name, "skipped": skip[precision]})
                    continue
                try:
                    run_precision(precision)
                except Exception as e:  # noqa: BLE001 - setting up the layer failed (out of memory, say): both passes say why
                    why = f"{type(e).__name__}: {str(e)[:300]}"
                    log(f"conv {name} {precision} failed: {why[:200]}")
                    done = {r["pass"] for r in results if r.get("layer") == name and r.get("precision") == precision and "pass" in r}
                    for pass_name in ("forward", "both"):
                        if pass_name not in done:
                            results.append({**entry, "pass": pass_name, "error": why})
                empty_cache()
            log(f"conv {name} batch {bsz} done ({', '.join(p for p in precisions if p not in skip)})")
        set_tf32(True)

    out.pop("complete", None)
    save(True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
