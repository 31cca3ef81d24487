# A recorder whose forward empties its hook's list first holds one forward's activations, not a
# pile; emptied only when it is built, the list grows with every call.
import torch
from torch import nn


class AttentionRecorder(nn.Module):
    def __init__(self, vit):
        super().__init__()
        self.vit = vit
        self.recordings = []
        for block in vit.blocks:
            block.attn.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.recordings.append(output.detach())

    def forward(self, img):
        self.recordings.clear()
        pred = self.vit(img)
        return pred, torch.stack(self.recordings, dim=1)


class FeatureTap(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.features = []
        net.layer4.register_forward_hook(self._keep)  # expect: OOM104

    def _keep(self, module, inputs, output):
        self.features.append(output)

    def forward(self, x):
        return self.net(x)


def dump_features(encoder, loader):
    # Made here once, then filled by every forward of the loop.
    cache = []
    encoder.layer4.register_forward_hook(lambda m, i, /: cache.append(o))  # expect: OOM104
    for batch in loader:
        encoder(batch)
    return cache
