"""What the verifier's probe adds to a training step: the same step loop timed with and without
one `tick()` per step, alternating rounds in one process (machines are noisy; the ratio of
medians is what counts). On a GPU the step is sized to about 15 ms, the step GROUND-TRUTH.md
measured; on the CPU it is whatever a small MLP takes."""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "verifier", "probe"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from oomlint_probe import Probe  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    width, batch = (2048, 896) if cuda else (256, 256)  # ~15 ms per step on an H200
    model = nn.Sequential(*[nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.GELU(),
                                          nn.Linear(4 * width, width)) for _ in range(4)]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, width, device=device)
    probe = Probe({"passes": 10**9, "timeout": 10**9, "out": os.path.join(tempfile.gettempdir(), "probe-bench.json"),
                   "ids": [0]})

    def run(with_probe):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            if with_probe:
                probe.tick(0)
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
        if cuda:
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) / args.steps

    run(False)  # warm-up: cuBLAS, optimizer state
    plain, probed = [], []
    for _ in range(args.rounds):
        plain.append(run(False))
        probed.append(run(True))
    p, q = statistics.median(plain), statistics.median(probed)
    print(f"device {device}: step {p * 1e3:.2f} ms plain, {q * 1e3:.2f} ms with the probe; "
          f"overhead {100 * (q / p - 1):+.2f}% (median of {args.rounds} rounds x {args.steps} steps)")


if __name__ == "__main__":
    main()
