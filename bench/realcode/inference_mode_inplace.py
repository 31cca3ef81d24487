#!/usr/bin/env python3
"""What torch.inference_mode() allows, measured rather than assumed (fix-review.tsv cites it).

usage: python3 bench/realcode/inference_mode_inplace.py [cpu|cuda]

Prints one line per case: whether the operation succeeds under inference_mode and whether the
module still trains afterwards (a forward and a backward through its parameters).
"""
import math
import os
import sys

import torch
import torch.distributed as dist
from torch import nn


def trains(module):
    x = torch.randn(2, module.in_features, device=module.weight.device)
    module(x).sum().backward()
    return module.weight.grad is not None


def case(name, body):
    torch.manual_seed(0)
    lin = nn.Linear(4, 4).to(DEVICE)
    try:
        with torch.inference_mode():
            body(lin)
        inference = lin.weight.is_inference()
        ok = trains(lin)
        print(f"{name:44s} ok      weight.is_inference={inference} trains_after={ok}")
    except RuntimeError as e:
        print(f"{name:44s} FAILS   {str(e).splitlines()[0][:90]}")


def broadcast(lin):
    dist.broadcast(lin.weight, src=0)


def cache_then_train(lin):
    lin.cache = torch.randn(4, 4, device=lin.weight.device)


DEVICE = sys.argv[1] if len(sys.argv) > 1 else "cpu"
print(f"torch {torch.__version__} on {DEVICE}")
case("p /= c (scaled init)", lambda lin: lin.weight.__itruediv__(math.sqrt(8)))
case("nn.init.kaiming_uniform_(p)", lambda lin: nn.init.kaiming_uniform_(lin.weight, a=math.sqrt(5)))
case("module.reset_parameters()", lambda lin: lin.reset_parameters())
case("p.copy_(tensor made here)", lambda lin: lin.weight.copy_(torch.zeros(4, 4, device=lin.weight.device)))
case("p.data = tensor made here", lambda lin: setattr(lin.weight, "data", torch.zeros(4, 4, device=lin.weight.device)))
os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
os.environ.setdefault("MASTER_PORT", "29533")
dist.init_process_group("gloo", rank=0, world_size=1)
case("dist.broadcast(p) (gloo, one rank)", broadcast)
dist.destroy_process_group()
torch.manual_seed(0)
lin = nn.Linear(4, 4).to(DEVICE)
with torch.inference_mode():
    cache_then_train(lin)
try:
    (lin(torch.randn(2, 4, device=DEVICE)) @ lin.cache).sum().backward()
    print(f"{'a cache made here, used in training':44s} ok")
except RuntimeError as e:
    print(f"{'a cache made here, used in training':44s} FAILS   {str(e).splitlines()[0][:90]}")
