"""OOM401: a training script resumed from its own checkpoints, saved from CUDA, with
`net.load_state_dict(torch.load(path))`: the loaded copy lives only inside that statement, so the
memory it needed shows only in the statement's peak."""
import os
import tempfile

import torch
import torch.nn as nn


def make_generator(width=1024, depth=6):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, width))


if __name__ == "__main__":
    device = "cuda" if torch.cuda.is_available() else "cpu"
    netG = make_generator().to(device)
    checkpoint = os.path.join(tempfile.gettempdir(), "oomlint-netG-epoch-3.pth")
    torch.save(netG.state_dict(), checkpoint)
    netG.load_state_dict(torch.load(checkpoint))
    print("resumed from", checkpoint)
