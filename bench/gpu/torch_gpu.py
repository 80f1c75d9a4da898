"""PyTorch side of senet's GPU benchmarks (run by bench/gpu/run.ts).

Reads a JSON list of jobs (--spec) and writes one JSON object per line to
stdout: {"type": "info", ...} first, then {"type": "result", ...} per job.
Times are CUDA-event times per iteration, the median of --reps repetitions
of --iters iterations after --warmup iterations. Activations are
channels_last (NHWC in memory, as senet's).

Jobs:
  {"kind": "se", "n", "h", "w", "c", "d", "backward", "dtype": "fp32"|"bf16", "impl": "eager"|"compile"}
      y = relu(u * sigmoid(W2 relu(W1 mean_hw(u) + b1) + b2) + r), as senet's
      fused op; fwd+bwd returns du, dr, dW1, db1, dW2, db2 (autograd.grad).
  {"kind": "train", "model": "se_resnext50_32x4d"|"resnext50_32x4d", "batch", "size", "precision": "fp32"|"bf16"}
      one SGD step (momentum 0.9, wd 1e-4): forward, cross-entropy, backward,
      step; cudnn.benchmark; bf16 = torch.autocast(bfloat16) (AMP); fp32 with
      TF32 off (senet's fp32 is true fp32 too).
The SE-ResNe(X)t-50 here is written out (timm's layout: stride on the 3x3,
SE after the last BN, 1x1-conv FCs), so timm is not needed.
"""

import argparse
import json
import statistics
import sys
import traceback


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", required=True)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cuda", help="cuda (the benchmark) or cpu (a dry run of this script)")
    args = ap.parse_args()
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001
        emit({"type": "info", "error": f"cannot import torch: {e}"})
        return
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        emit({"type": "info", "error": "torch.cuda.is_available() is False", "torch": torch.__version__})
        return
    dev = torch.device("cuda:0" if cuda else "cpu")
    torch.backends.cudnn.benchmark = True
    emit({
        "type": "info",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "gpu": torch.cuda.get_device_name(0) if cuda else "cpu (dry run)",
        "python": sys.version.split()[0],
    })
    import time

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def set_fp32_exact(exact):
        torch.backends.cudnn.allow_tf32 = not exact
        torch.backends.cuda.matmul.allow_tf32 = not exact

    def time_fn(fn, warmup=args.warmup, iters=args.iters, reps=args.reps):
        for _ in range(warmup):
            fn()
        sync()
        times = []
        for _ in range(reps):
            if not cuda:
                t0 = time.perf_counter()
                for _ in range(iters):
                    fn()
                times.append((time.perf_counter() - t0) * 1000.0 / iters)
                continue
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            for _ in range(iters):
                fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) / iters)
        return statistics.median(times), times

    # ------------------------------------------------------------- SE op
    def se_fn(u, r, w1, b1, w2, b2):
        z = u.mean((2, 3))
        a = F.relu(F.linear(z, w1, b1))
        s = torch.sigmoid(F.linear(a, w2, b2))
        return F.relu(u * s[:, :, None, None] + r)

    compiled = {}

    def se_job(j):
        n, h, w, c, d = j["n"], j["h"], j["w"], j["c"], j["d"]
        dt = torch.bfloat16 if j["dtype"] == "bf16" else torch.float32
        set_fp32_exact(True)
        g = torch.Generator(device=dev).manual_seed(1)
        mk = lambda *s, std=1.0: (torch.randn(*s, device=dev, generator=g) * std)  # noqa: E731
        u = mk(n, c, h, w).to(dt).contiguous(memory_format=torch.channels_last)
        r = mk(n, c, h, w).to(dt).contiguous(memory_format=torch.channels_last)
        dy = mk(n, c, h, w).to(dt).contiguous(memory_format=torch.channels_last)
        # weights in the activations' dtype (what autocast would run the FCs in)
        w1, b1 = mk(d, c, std=c ** -0.5).to(dt), mk(d, std=0.1).to(dt)
        w2, b2 = mk(c, d, std=d ** -0.5).to(dt), mk(c, std=0.1).to(dt)
        fn = se_fn
        if j["impl"] == "compile":
            if "se" not in compiled:
                compiled["se"] = torch.compile(se_fn)
            fn = compiled["se"]
        if not j["backward"]:
            def run():
                with torch.no_grad():
                    return fn(u, r, w1, b1, w2, b2)
        else:
            for t in (u, r, w1, b1, w2, b2):
                t.requires_grad_(True)

            def run():
                y = fn(u, r, w1, b1, w2, b2)
                return torch.autograd.grad(y, (u, r, w1, b1, w2, b2), dy)
        ms, times = time_fn(run)
        return {"ms": ms, "times_ms": times}

    # ------------------------------------------------------------- models
    class SE(nn.Module):
        def __init__(self, c, d):
            super().__init__()
            self.fc1 = nn.Conv2d(c, d, 1)
            self.fc2 = nn.Conv2d(d, c, 1)

        def forward(self, x):
            s = x.mean((2, 3), keepdim=True)
            s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
            return x * s

    class Bottleneck(nn.Module):
        def __init__(self, cin, planes, stride, groups, base_width, se):
            super().__init__()
            width = int(planes * (base_width / 64.0)) * groups
            out = planes * 4
            self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
            self.se = SE(out, out // 16) if se else None
            self.down = None
            if stride != 1 or cin != out:
                self.down = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

        def forward(self, x):
            sc = x if self.down is None else self.down(x)
            y = F.relu(self.bn1(self.conv1(x)))
            y = F.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            if self.se is not None:
                y = self.se(y)
            return F.relu(y + sc)

    class ResNeXt50(nn.Module):
        def __init__(self, se, classes=1000):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, 1))
            blocks, cin = [], 64
            for i, (n, planes) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512])):
                for b in range(n):
                    blocks.append(Bottleneck(cin, planes, 2 if (b == 0 and i > 0) else 1, 32, 4, se))
                    cin = planes * 4
            self.layers = nn.Sequential(*blocks)
            self.fc = nn.Linear(cin, classes)

        def forward(self, x):
            return self.fc(self.layers(self.stem(x)).mean((2, 3)))

    def train_job(j):
        torch.manual_seed(0)
        set_fp32_exact(j["precision"] == "fp32")
        model = ResNeXt50(j["model"].startswith("se_")).to(dev).to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        b, s = j["batch"], j["size"]
        x = torch.randn(b, 3, s, s, device=dev).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 1000, (b,), device=dev)
        bf16 = j["precision"] == "bf16"

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        try:
            ms, times = time_fn(step, warmup=max(3, args.warmup // 2), iters=max(5, args.iters // 4), reps=args.reps)
            peak = torch.cuda.max_memory_allocated() if cuda else None
            return {"ms": ms, "times_ms": times, "img_per_s": b / (ms / 1000.0), "peak_bytes": peak}
        finally:
            del model, opt, x, y
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()

    for j in json.loads(args.spec):
        rec = {"type": "result", "job": j}
        try:
            if j["kind"] == "se":
                rec.update(se_job(j))
            elif j["kind"] == "train":
                rec.update(train_job(j))
            else:
                rec["error"] = f"unknown job kind {j['kind']}"
        except Exception as e:  # noqa: BLE001
            msg = f"{type(e).__name__}: {e}"
            rec["error"] = msg.splitlines()[0][:400]
            sys.stderr.write(traceback.format_exc())
            if cuda:
                torch.cuda.empty_cache()
        emit(rec)


if __name__ == "__main__":
    main()
