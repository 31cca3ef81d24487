"""OOM101 after a backward: the running loss keeps every step's graph nodes (host memory)."""
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


def train(model, data, steps):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    running_loss = 0.0
    for step in range(steps):
        x, y = data[step % len(data)]
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss
    return running_loss


if __name__ == "__main__":
    args, model, data = setup()
    print(float(train(model, data, args.steps)))
