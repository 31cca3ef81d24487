import torch


def save(path, model):
    with open(path, "wb") as raw, \
            torch.no_grad():
        torch.save(model.state_dict(), raw)
