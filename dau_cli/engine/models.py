"""Classifiers: a registry of architectures behind one interface.

Every model is a `Classifier`: normalisation (a buffer, so uint8-derived [0, 1] input is all a
caller gives), a `body` that returns the penultimate features (B, feature_dim), and a linear
`head`. The unlearning methods use `features()`; pruning touches every conv and linear weight.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from dau_cli.errors import DauError


class Classifier(nn.Module):
    def __init__(self, body: nn.Module, feature_dim: int, num_classes: int, channels: int):
        super().__init__()
        # Per-channel mean/std of natural images in [0, 1]; fixed so checkpoints need no statistics.
        self.register_buffer("mean", torch.full((1, channels, 1, 1), 0.5))
        self.register_buffer("std", torch.full((1, channels, 1, 1), 0.25))
        self.body = body
        self.head = nn.Linear(feature_dim, num_classes)
        self.feature_dim = feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features, (B, feature_dim), from [0, 1] images."""
        return self.body((x - self.mean) / self.std)

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return h, self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def cnn(num_classes: int, channels: int, size: int, width: int = 32) -> Classifier:
    """A small conv net for 8x8 and 32x32 inputs: three conv blocks, global average pool."""
    w = width
    layers = [*_conv_bn(channels, w), *_conv_bn(w, 2 * w), nn.MaxPool2d(2), *_conv_bn(2 * w, 4 * w)]
    if size >= 16:  # one more downsampling for 32x32, so the last block sees 8x8
        layers += [nn.MaxPool2d(2), *_conv_bn(4 * w, 4 * w)]
    body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Classifier(body, 4 * w, num_classes, channels)


def lenet(num_classes: int, channels: int, size: int) -> Classifier:
    """LeNet-5 with batch norm after each convolution: 5x5 convs of 6 and 16 channels, each
    pooled, then 120 and 84 units. At 28x28 it is the classic shape (16 maps of 5x5); other sizes
    pool adaptively to 5x5, so 8- to 64-pixel inputs all fit. About 62k parameters."""
    body = nn.Sequential(
        nn.Conv2d(channels, 6, 5, padding=2, bias=False), nn.BatchNorm2d(6), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, padding=0 if size >= 16 else 2, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        nn.AdaptiveMaxPool2d(5), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True), nn.Linear(120, 84), nn.ReLU(inplace=True))
    return Classifier(body, 84, num_classes, channels)


def resnet18(num_classes: int, channels: int, size: int) -> Classifier:
    """torchvision's ResNet-18 with the CIFAR stem: 3x3 stride-1 first conv and no max-pool."""
    import torchvision

    net = torchvision.models.resnet18(num_classes=num_classes)
    net.conv1 = nn.Conv2d(channels, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    body = nn.Sequential(net.conv1, net.bn1, net.relu, net.layer1, net.layer2, net.layer3, net.layer4,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Classifier(body, 512, num_classes, channels)


def vgg16_bn(num_classes: int, channels: int, size: int) -> Classifier:
    """torchvision's VGG-16 with batch norm. Its five 2x pools halve 32x32 inputs to 1x1; on smaller
    inputs the pools that would go below 1x1 are left out (28x28 keeps four, 8x8 three)."""
    import torchvision

    net = torchvision.models.vgg16_bn(num_classes=num_classes)
    feats = net.features
    if channels != 3:
        feats[0] = nn.Conv2d(channels, 64, 3, padding=1)
    pools = [i for i, m in enumerate(feats) if isinstance(m, nn.MaxPool2d)]
    for i in pools[max(size.bit_length() - 1, 0):]:  # floor(log2(size)) pools fit
        feats[i] = nn.Identity()
    body = nn.Sequential(feats, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Classifier(body, 512, num_classes, channels)


def torchvision_model(num_classes: int, channels: int, size: int, name: str = "resnet18") -> Classifier:
    """Any torchvision classification model by name (`dau import --torchvision NAME`), as trained
    elsewhere: its last linear layer becomes the head, the rest the body, with their own parameter
    names under `body.` and `head.`. Grayscale data is repeated to three channels when the model's
    first layer takes three."""
    import torchvision

    if name not in torchvision.models.list_models(module=torchvision.models):
        raise DauError(f"'{name}' is not a torchvision classification model; see torchvision.models.list_models()")
    net = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    last_name, last = [(n, m) for n, m in net.named_modules() if isinstance(m, nn.Linear)][-1]
    parent = net.get_submodule(last_name.rpartition(".")[0]) if "." in last_name else net
    setattr(parent, last_name.rpartition(".")[2], nn.Identity())
    first = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    body = nn.Sequential(_Repeat(first.in_channels), net) if first.in_channels != channels else net
    model = Classifier(body, last.in_features, num_classes, channels)
    model.head = last
    return model


class _Repeat(nn.Module):
    """Grayscale to the channels a model's first layer expects (no parameters)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, self.channels, -1, -1) if x.shape[1] == 1 else x


MODELS: dict[str, Callable[..., Classifier]] = {"cnn": cnn, "lenet": lenet, "resnet18": resnet18,
                                                 "vgg16_bn": vgg16_bn, "torchvision": torchvision_model}


def build_model(arch: str, num_classes: int, input_shape: tuple[int, int, int], **arch_args) -> Classifier:
    if arch not in MODELS:
        raise DauError(f"unknown model '{arch}'; choose one of: {', '.join(MODELS)}")
    channels, size = input_shape[0], input_shape[1]
    try:
        return MODELS[arch](num_classes, channels, size, **arch_args)
    except TypeError as e:
        raise DauError(f"bad arguments for model '{arch}': {e}") from e
