"""PyTorch CPU reference for bench/tfjs/bench.ts: the small SE-ResNet training
step (3 stages [16, 32, 64] of 3 basic SE blocks, SE r=16, batch 128 of
1x28x28, SGD momentum) and ResNet-50 inference (torchvision, batch 16,
224x224), channels_last. Prints one JSON line per workload with the raw
times in ms (the same timing policy as bench/lib.ts)."""

import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class SE(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.fc1 = nn.Linear(c, max(1, c // r))
        self.fc2 = nn.Linear(max(1, c // r), c)

    def forward(self, x):
        s = x.mean((2, 3))
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * s[:, :, None, None]


class Block(nn.Module):
    def __init__(self, cin, c, stride, r):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.se = SE(c, r)
        self.short = None
        if stride != 1 or cin != c:
            self.short = nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.se(self.bn2(self.conv2(y)))
        return F.relu(y + (x if self.short is None else self.short(x)))


class SmallSEResNet(nn.Module):
    def __init__(self, widths=(16, 32, 64), blocks=3, r=16, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                layers.append(Block(cin, w, 2 if i > 0 and b == 0 else 1, r))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(self.layers(self.stem(x)).mean((2, 3)))


def measure(fn, policy):
    warm, spent, best = 0, 0.0, float("inf")
    while warm < policy["warmupMin"] or (warm < policy["warmupMax"] and spent < policy["warmupSec"]):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent, warm = min(best, dt), spent + dt, warm + 1
    n = min(policy["maxRuns"], max(policy["minRuns"], math.ceil(policy["targetSec"] / max(best, 1e-6))))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times, warm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--policy", required=True)
    ap.add_argument("--only", default="seresnet_train,resnet50_infer")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    policy = json.loads(a.policy)
    emit({"type": "info", "torch": torch.__version__, "threads": torch.get_num_threads()})
    torch.manual_seed(0)
    only = a.only.split(",")
    if "seresnet_train" in only:
        m = SmallSEResNet().to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
        x = torch.randn(128, 1, 28, 28).to(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (128,))

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        times, warm = measure(step, policy)
        emit({"type": "result", "workload": "seresnet_train", "times_ms": times, "warmup": warm})
    if "resnet50_infer" in only:
        import torchvision

        m = torchvision.models.resnet50().eval().to(memory_format=torch.channels_last)
        x = torch.randn(16, 3, 224, 224).to(memory_format=torch.channels_last)

        def infer():
            with torch.no_grad():
                return m(x).sum().item()

        times, warm = measure(infer, policy)
        emit({"type": "result", "workload": "resnet50_infer", "times_ms": times, "warmup": warm})


if __name__ == "__main__":
    main()
