"""PyTorch/timm CPU side of senet's model benchmarks (run by bench/models.ts).

One process per timm architecture and memory format (so that its max RSS
belongs to that model alone): timm.create_model(--arch) with random
weights (no download), --threads intra-op threads, input [batch, 3, size,
size] ~ N(0, 1), labels i*7 % classes, and the timing policy of --policy
(the same as bench/lib.ts, through bench/torch_ops.py's measure()).

Workloads, in the order given (infer before train keeps each max RSS its own):
  infer  model.eval(), model(x) under torch.no_grad()
  train  model.train(), F.cross_entropy(model(x), y), backward,
         torch.optim.SGD(lr 0.01, momentum 0.9, weight_decay 1e-4) step,
         zero_grad(set_to_none=True), loss.item()

--format channels_last: model and input .to(memory_format=torch.channels_last)
(NHWC in memory, senet's layout); contiguous: PyTorch's default NCHW.

Writes one JSON object per line to stdout (bench/torch_ops.py's protocol):
{"type": "info", ...}, then one {"type": "result", ...} per workload.
"""

import argparse
import json
import os
import platform
import resource
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the committed files
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "test", "fixtures"))
from torch_ops import emit, measure  # noqa: E402
from timm_env import patch_torchvision  # noqa: E402


def max_rss_bytes():
    """The process's resident set high-water mark (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, help="timm model name")
    ap.add_argument("--workloads", default="infer,train", help="comma-separated: infer, train (run in this order)")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--format", choices=["channels_last", "contiguous"], default="channels_last")
    ap.add_argument("--policy", required=True, help="JSON timing policy (bench/lib.ts)")
    a = ap.parse_args()
    policy = json.loads(a.policy)

    patch_torchvision()  # timm imports torchvision (test/fixtures/timm_env.py)
    import timm
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    emit(
        {
            "type": "info",
            "torch": torch.__version__,
            "timm": timm.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "mkldnn_available": torch.backends.mkldnn.is_available(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        }
    )

    fmt = torch.channels_last if a.format == "channels_last" else torch.contiguous_format
    model = timm.create_model(a.arch, pretrained=False, num_classes=a.classes).to(memory_format=fmt)
    x = torch.randn(a.batch, 3, a.size, a.size).contiguous(memory_format=fmt)
    y = torch.tensor([(i * 7) % a.classes for i in range(a.batch)])

    def infer():
        with torch.no_grad():
            out = model(x)
        return lambda: out  # the logits live until the clock has stopped

    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    def train():
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss.item()

    for w in a.workloads.split(","):
        res = {"type": "result", "workload": w, "threads": torch.get_num_threads(), "format": a.format}
        calls = []

        def run(f=infer if w == "infer" else train):
            t0 = time.perf_counter()
            cleanup = f()
            calls.append((time.perf_counter() - t0) * 1000.0)
            return cleanup

        rss0 = max_rss_bytes()
        try:
            if w not in ("infer", "train"):
                raise ValueError(f"unknown workload {w}")
            model.train(w == "train")
            res.update(measure(run, policy))
            res["warmup_ms"] = calls[: res["warmup"]]
        except Exception as e:  # report it and go on with the next workload
            res.update({"times_ms": [], "warmup": 0, "error": f"{type(e).__name__}: {e}"})
        rss = max_rss_bytes()
        res.update({"max_rss_bytes": rss, "max_rss_own": rss > rss0})
        emit(res)


if __name__ == "__main__":
    main()
