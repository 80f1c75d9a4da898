#!/usr/bin/env python3
"""senet against timm on full-size ImageNet SE-ResNets (npm run test:timm).

Architectures: seresnet50, seresnext50_32x4d, legacy_seresnext50_32x4d (the
issue's) and legacy_seresnet50 (the one legacy variant that strides the
first 1x1 of a bottleneck); --archs for others.

For each: build the random-init timm model, randomise
EVERY BatchNorm (weight, bias, running_mean, running_var > 0; timm
zero-initialises each branch's last BN scale, which would make the network
skip its SE modules), the SE biases and the classifier; save its state dict
with safetensors.torch.save_file, an input x and timm's eval-mode logits;
then run the real CLI:

    senet import-timm sd.safetensors --arch <name> -o ckpt.safetensors
    senet predict ckpt.safetensors --input-tensor x.safetensors --layout nchw -o y.safetensors

and compare senet's logits with timm's (float32), reporting

    norm-rel  = max_i |senet_i - timm_i| / max_i |timm_i|   (gated: <= 1e-4)
    elem-rel  = max_i |senet_i - timm_i| / |timm_i|          (reported; blows
                up for logits near zero, hence not the gate)

and, for context, the same normwise distances of senet and of timm float32
from a float64 evaluation of the same timm model ("how wrong is float32
itself"). Exit status 1 when any architecture exceeds the gate or a
negative check fails.

Negative checks (the CLI must fail clearly):
  * seresnet50 weights imported as seresnext50_32x4d: exit 1, a message that
    names the file and lists shape mismatches (e.g. layer1.0.conv2.weight);
  * a truncated state dict: exit 1, the safetensors reader's message (a
    SENET_IO error; the CLI prints the message, not the code) naming the
    file and saying "truncated".

Input: x ~ N(0, 1) of shape [2, 3, 224, 224] by default (--size). 224 is
the size these weights are used at; every stride is exercised at any size
>= 33 (the stem's /4 and three stride-2 stages, down to 7x7 at 224), and
224 also makes the legacy ceil-mode max pool and timm's padded pool give
the same 56x56 grid with shifted windows, so a stem/pool mix-up shows.
--size 97 (odd sizes all the way down) is a second useful run. --gate
changes the limit (e.g. --gate 1e-9 to see the exit status on failure).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the committed files
sys.path.insert(0, os.path.join(ROOT, 'test', 'fixtures'))
from timm_env import import_timm, randomise_bn_and_heads, state_dict_for_save  # noqa: E402

timm, torch = import_timm()
from safetensors.torch import load_file, save_file  # noqa: E402

# the three the issue names, plus legacy_seresnet50 (legacy SE-ResNets stride the first 1x1: strideOnConv1)
ARCHS = ['seresnet50', 'seresnext50_32x4d', 'legacy_seresnext50_32x4d', 'legacy_seresnet50']
GATE = 1e-4
SENET = [os.environ.get('SENET_NODE', 'node'), '--import', 'tsx', os.path.join(ROOT, 'lib', 'cli', 'main.ts')]


def senet(*args, expect_ok=True):
    t0 = time.perf_counter()
    p = subprocess.run([*SENET, *args], cwd=ROOT, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if expect_ok and p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f'senet {args[0]} failed (exit {p.returncode})')
    return p, dt


def build(arch, seed):
    torch.manual_seed(seed)
    model = timm.create_model(arch, pretrained=False)
    randomise_bn_and_heads(model, torch.Generator().manual_seed(seed + 1), torch)
    return model.eval()


def norm_rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def run_arch(arch, tmp, size, seed):
    d = os.path.join(tmp, arch)
    os.makedirs(d)
    model = build(arch, seed)
    sd_path, x_path, ck, y_path = (os.path.join(d, n) for n in ('sd.safetensors', 'x.safetensors', 'ckpt.safetensors', 'y.safetensors'))
    save_file(state_dict_for_save(model), sd_path)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed + 2))
    save_file({'input': x.contiguous()}, x_path)
    t0 = time.perf_counter()
    with torch.no_grad():
        y32 = model(x)
    t_timm = time.perf_counter() - t0
    with torch.no_grad():
        y64 = model.double()(x.double())
    _, t_imp = senet('import-timm', sd_path, '--arch', arch, '-o', ck)
    _, t_pred = senet('predict', ck, '--input-tensor', x_path, '--layout', 'nchw', '-o', y_path)
    ours = load_file(y_path)['logits']
    if tuple(ours.shape) != tuple(y32.shape):
        raise SystemExit(f'{arch}: senet logits have shape {tuple(ours.shape)}, timm {tuple(y32.shape)}')
    diff = (ours.double() - y32.double()).abs()
    return dict(
        arch=arch,
        norm_rel=norm_rel(ours.double(), y32.double()),
        elem_rel=float((diff / y32.double().abs()).max()),
        elem_rel_med=float((diff / y32.double().abs()).median()),
        max_abs=float(diff.max()),
        max_timm=float(y32.abs().max()),
        senet_vs_64=norm_rel(ours.double(), y64),
        timm_vs_64=norm_rel(y32.double(), y64),
        t_timm=t_timm, t_import=t_imp, t_predict=t_pred,
        sd=sd_path,
    )


def negative_checks(tmp, results, seed):
    ok = True
    # 1. seresnet50 weights as seresnext50_32x4d
    src = next((r['sd'] for r in results if r['arch'] == 'seresnet50'), None)
    if src is None:
        m = build('seresnet50', seed)
        src = os.path.join(tmp, 'seresnet50_sd.safetensors')
        save_file(state_dict_for_save(m), src)
    p, _ = senet('import-timm', src, '--arch', 'seresnext50_32x4d', '-o', os.path.join(tmp, 'wrong.safetensors'), expect_ok=False)
    msg = p.stderr.strip()
    good = (p.returncode != 0 and 'shape mismatches' in msg and src in msg
            and 'layer1.0.conv2.weight: expected [128,3,3,4], got [64,3,3,64]' in msg
            and not os.path.exists(os.path.join(tmp, 'wrong.safetensors')))
    ok &= good
    first = msg.split('; ')
    print(f"wrong arch (seresnet50 weights as seresnext50_32x4d): exit {p.returncode} {'OK' if good else 'FAIL'}")
    print(f"  {'; '.join(first[:3])[:400]}{' ...' if len(first) > 3 else ''}")
    # 2. truncated state dict
    trunc = os.path.join(tmp, 'truncated.safetensors')
    with open(src, 'rb') as f:
        data = f.read()
    with open(trunc, 'wb') as f:
        f.write(data[: len(data) // 2])
    p, _ = senet('import-timm', trunc, '--arch', 'seresnet50', '-o', os.path.join(tmp, 'trunc_out.safetensors'), expect_ok=False)
    msg = p.stderr.strip()
    good = p.returncode != 0 and msg.startswith(f'senet: safetensors: {trunc} at byte') and 'truncated' in msg
    ok &= good
    print(f"truncated state dict: exit {p.returncode} {'OK' if good else 'FAIL'}\n  {msg[:300]}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--archs', default=','.join(ARCHS))
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--keep', help='keep the files in this folder instead of a temporary one')
    ap.add_argument('--gate', type=float, default=GATE, help='the norm-rel limit (default 1e-4, the issue\'s requirement)')
    a = ap.parse_args()
    tmp = a.keep or tempfile.mkdtemp(prefix='senet-timm-')
    os.makedirs(tmp, exist_ok=True)
    print(f'timm {timm.__version__}, torch {torch.__version__} (1 thread); input [2, 3, {a.size}, {a.size}]; files in {tmp}')
    t0 = time.perf_counter()
    try:
        results = [run_arch(arch, tmp, a.size, a.seed) for arch in a.archs.split(',')]
        hdr = f"{'arch':<26} {'max|timm|':>9} {'max abs':>9} {'norm-rel':>9} {'elem-rel':>9} {'(median)':>9} {'senet~f64':>9} {'timm~f64':>9}  {'import s':>8} {'predict s':>9} {'timm s':>6}"
        print(hdr + '\n' + '-' * len(hdr))
        failed = False
        for r in results:
            bad = not (r['norm_rel'] <= a.gate)
            failed |= bad
            print(f"{r['arch']:<26} {r['max_timm']:9.3g} {r['max_abs']:9.2e} {r['norm_rel']:9.2e} {r['elem_rel']:9.2e} {r['elem_rel_med']:9.2e} "
                  f"{r['senet_vs_64']:9.2e} {r['timm_vs_64']:9.2e}  {r['t_import']:8.1f} {r['t_predict']:9.1f} {r['t_timm']:6.1f}{f'  > {a.gate:g} FAIL' if bad else ''}")
        print(f'norm-rel = max|senet - timm| / max|timm| (gate {a.gate:g}); elem-rel = max |senet - timm| / |timm|; '
              'senet~f64, timm~f64: normwise distance from timm in float64')
        failed |= not negative_checks(tmp, results, a.seed)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f'total {time.perf_counter() - t0:.0f} s: {"FAIL" if failed else "OK"}')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
