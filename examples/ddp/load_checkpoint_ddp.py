"""OOM401 under DDP: every rank loads a checkpoint saved from cuda:0 without map_location, so
every rank's copy lands on GPU 0. Run with `torchrun --nproc_per_node 2 load_checkpoint_ddp.py`
(NCCL on GPUs, gloo on the CPU)."""
import os
import tempfile

import torch
import torch.distributed as dist
import torch.nn as nn


def make_model(width=2048):
    return nn.Sequential(*[nn.Linear(width, width) for _ in range(8)])


def restore(model, path):
    state = torch.load(path)
    model.load_state_dict(state)
    return model


def main():
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank()
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    path = os.path.join(tempfile.gettempdir(), "oomlint-ddp-example.pt")
    if rank == 0:
        torch.save(make_model().to("cuda:0" if cuda else "cpu").state_dict(), path)
    dist.barrier()
    model = make_model().to(device)
    restore(model, path)
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=[rank] if cuda else None)
    ddp(torch.randn(8, 2048, device=device)).sum().backward()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
