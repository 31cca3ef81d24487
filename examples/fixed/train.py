"""train_leaky.py with each finding fixed."""
import argparse
import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


class ResidualMLP(nn.Module):
    def __init__(self, width=256, depth=4, classes=10):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
            for _ in range(depth)
        )
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        for block in self.blocks:
            x = x + checkpoint(block, x, use_reentrant=False)
        return self.head(x)


def batches(steps, batch, width, device):
    for _ in range(steps):
        yield torch.randn(batch, width, device=device), torch.randint(0, 10, (batch,), device=device)


def train(model, optimizer, loader):
    model.train()
    running_loss = 0.0
    losses = []
    for step, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        losses.append(loss.item())
    return running_loss / max(len(losses), 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = ResidualMLP().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    path = os.path.join(tempfile.gettempdir(), "oomlint-example.pt")
    torch.save(model.state_dict(), path)
    model.load_state_dict(torch.load(path, map_location="cpu"))
    mean_loss = train(model, optimizer, batches(args.steps, args.batch, 256, device))
    torch.cuda.empty_cache()  # between phases
    print(f"mean loss {mean_loss:.4f}")


if __name__ == "__main__":
    main()
