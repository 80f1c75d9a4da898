"""PyTorch CPU side of senet's op benchmarks (run by bench/torch.ts).

Runs the workloads described by --spec with --threads intra-op threads and
the timing policy of --policy (the same as bench/lib.ts: warm-up, then about
targetSec of timed runs clamped to [minRuns, maxRuns]). Writes one JSON
object per line to stdout: first {"type": "info", ...}, then one
{"type": "result", ...} per workload with the raw times in ms. Activations
are channels_last (NHWC in memory); forward-only runs use torch.no_grad().
"""

import argparse
import json
import math
import platform
import re
import sys
import time


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def timed_runs(policy, sec):
    n = math.ceil(policy["targetSec"] / max(sec, 1e-6))
    return min(policy["maxRuns"], max(policy["minRuns"], n))


def cpu_snapshot():
    """(machine busy jiffies, this process's jiffies, time), as cpuSnapshot() in bench/lib.ts."""
    try:
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
        with open("/proc/self/stat") as f:
            st = f.read()
        fields = st[st.rindex(")") + 2 :].split()
        busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + (cpu[7] if len(cpu) > 7 else 0)
        own = sum(int(x) for x in fields[11:15])
        return busy, own, time.perf_counter()
    except (OSError, ValueError, IndexError):
        return None


def other_load(a, b):
    """Average number of cores other processes used between two snapshots."""
    if a is None or b is None or b[2] <= a[2]:
        return None
    other = (b[0] - a[0]) - (b[1] - a[1])
    return max(0.0, other / 100.0 / (b[2] - a[2]))


def wait_for_idle(max_sec, threshold=None):
    """Waits until other processes used < threshold cores over 0.5 s, at most max_sec; returns seconds waited."""
    threshold = BUSY_THRESHOLD if threshold is None else threshold
    t0 = time.perf_counter()
    if max_sec <= 0 or cpu_snapshot() is None:
        return 0.0
    while True:
        a = cpu_snapshot()
        time.sleep(0.5)
        load = other_load(a, cpu_snapshot())
        waited = time.perf_counter() - t0
        if load is None or load < threshold or waited >= max_sec:
            return waited


BUSY_THRESHOLD = 0.1  # as in bench/lib.ts
WAIT_BUDGET = {"left": math.inf}  # seconds the child may still spend waiting (--wait-budget)


def measure(run, policy):
    """As measure() in bench/lib.ts: wait for idle, measure, retry when disturbed."""
    wait = policy.get("waitIdleSec", 0)
    best, waited, attempt = None, 0.0, 0
    while True:
        w = wait_for_idle(min(wait, WAIT_BUDGET["left"]))
        WAIT_BUDGET["left"] -= w
        waited += w
        t = measure_once(run, policy)
        if best is None or (t["other_load"] or 0) < (best["other_load"] or 0):
            best = t
        if (
            wait <= 0
            or WAIT_BUDGET["left"] <= 0
            or attempt >= policy.get("retries", 0)
            or (best["other_load"] or 0) <= BUSY_THRESHOLD
        ):
            break
        attempt += 1
    if wait > 0:
        best["waited_s"] = round(waited, 1)
        best["attempts"] = attempt + 1
    return best


def measure_once(run, policy):
    """run() does one whole computation and returns what frees it (or None)."""

    def once():
        t0 = time.perf_counter()
        cleanup = run()
        dt = (time.perf_counter() - t0) * 1000.0
        if cleanup is not None:
            cleanup()
        return dt

    warmup, spent, best = 0, 0.0, math.inf
    while warmup < policy["warmupMin"] or (
        warmup < policy["warmupMax"] and spent < policy["warmupSec"] * 1000.0
    ):
        dt = once()
        best = min(best, dt)
        spent += dt
        warmup += 1
    times = []
    if warmup == 0:
        best = once()
        times.append(best)
    n = timed_runs(policy, best / 1000.0)
    before = cpu_snapshot()
    while len(times) < n:
        times.append(once())
    return {"times_ms": times, "warmup": warmup, "other_load": other_load(before, cpu_snapshot())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--spec", required=True, help="JSON array of workload specs (bench/lib.ts)")
    ap.add_argument("--policy", required=True, help="JSON timing policy (bench/lib.ts)")
    ap.add_argument("--wait-budget", type=float, default=math.inf, help="seconds of idle waits left")
    args = ap.parse_args()
    WAIT_BUDGET["left"] = args.wait_budget
    specs = json.loads(args.spec)
    policy = json.loads(args.policy)

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cl = torch.channels_last

    m = re.search(r"MKL-DNN v([0-9.]+)", torch.__config__.show())
    emit(
        {
            "type": "info",
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "mkldnn_available": torch.backends.mkldnn.is_available(),
            "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
            "onednn_version": m.group(1) if m else None,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        }
    )

    class SEBlock(nn.Module):
        def __init__(self, c, d):
            super().__init__()
            self.fc1 = nn.Linear(c, d)
            self.fc2 = nn.Linear(d, c)

        def forward(self, u, r):
            z = u.mean((2, 3))
            a = F.relu(self.fc1(z))
            s = torch.sigmoid(self.fc2(a))
            return F.relu(u * s[:, :, None, None] + r)

    def se_run(s):
        shape = (s["n"], s["c"], s["h"], s["w"])  # NCHW logical, channels_last memory
        block = SEBlock(s["c"], s["d"])
        u = torch.randn(shape).contiguous(memory_format=cl)
        r = torch.randn(shape).contiguous(memory_format=cl)
        if not s["backward"]:

            def fwd():
                with torch.no_grad():
                    y = block(u, r)
                return lambda: y  # y lives until the clock has stopped

            return fwd, "eager nn.Module, channels_last, no_grad"

        u.requires_grad_(True)
        r.requires_grad_(True)
        dy = torch.randn(shape).contiguous(memory_format=cl)

        def fwd_bwd():
            y = block(u, r)
            y.backward(dy)

            def cleanup():
                nonlocal y
                y = None
                u.grad = None
                r.grad = None
                block.zero_grad(set_to_none=True)

            return cleanup

        return fwd_bwd, "eager nn.Module, channels_last, y.backward(dy) -> du, dr, fc1/fc2 weight+bias grads"

    def conv_run(s):
        conv = nn.Conv2d(
            s["cin"], s["cout"], (s["kh"], s["kw"]), stride=s["stride"], padding=s["pad"],
            groups=s["groups"], bias=False,
        ).to(memory_format=cl)
        conv.eval()
        x = torch.randn(s["n"], s["cin"], s["h"], s["w"]).contiguous(memory_format=cl)

        def fwd():
            with torch.no_grad():
                y = conv(x)
            return lambda: y

        return fwd, "nn.Conv2d(bias=False), channels_last, no_grad"

    for s in specs:
        res = {"type": "result", "workload": s["name"], "threads": torch.get_num_threads()}
        try:
            run, variant = se_run(s) if s["kind"] == "se" else conv_run(s)
            res.update(measure(run, policy))
            res["variant"] = variant
        except Exception as e:  # report it and go on with the next workload
            res.update({"times_ms": [], "warmup": 0, "error": f"{type(e).__name__}: {e}"})
        emit(res)


if __name__ == "__main__":
    main()
