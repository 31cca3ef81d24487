"""Fixed twin: what oomlint --fix --unsafe-fixes (or the rule's advice) makes of the example beside it."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_model(width, depth=4):
    blocks = [nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
              for _ in range(depth)]
    return nn.Sequential(*blocks, nn.Linear(width, width))


def arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=2048)
    return parser.parse_args()


def setup():
    args = arguments()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = make_model(args.width).to(device)
    data = [(torch.randn(args.batch, args.width, device=device), torch.randn(args.batch, args.width, device=device))
            for _ in range(4)]
    return args, model, data


@torch.inference_mode()
def evaluate(model, data, steps):
    model.eval()
    total = 0.0
    for step in range(steps):
        x, y = data[step % len(data)]
        out = model(x)
        total += F.mse_loss(out, y).item()
    return total


if __name__ == "__main__":
    args, model, data = setup()
    print(evaluate(model, data, args.steps))
