"""Every registered model: forward pass, penultimate features, and the input sizes it refuses."""

from __future__ import annotations

import pytest
import torch

from dau_cli.engine.models import MODELS, Classifier, build_model
from dau_cli.errors import DauError

# What the literature's versions of these networks give; a new model only needs its own feature_dim.
KNOWN_FEATURE_DIM = {"cnn": 128, "resnet18": 512, "vgg16_bn": 512}


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_forward_and_features_on_32x32_rgb(arch):
    torch.manual_seed(0)
    model = build_model(arch, num_classes=10, input_shape=(3, 32, 32)).eval()
    assert isinstance(model, Classifier)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        logits = model(x)
        features, logits_too = model.forward_with_features(x)
    assert logits.shape == (2, 10)
    assert features.shape == (2, model.feature_dim)
    assert model.feature_dim == KNOWN_FEATURE_DIM.get(arch, model.feature_dim)
    assert torch.allclose(logits, logits_too) and torch.allclose(model.head(features), logits)
    assert torch.isfinite(logits).all()


def test_cnn_on_8x8_grey():
    model = build_model("cnn", num_classes=10, input_shape=(1, 8, 8)).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)
        assert model.features(torch.rand(2, 1, 8, 8)).shape == (2, 128)


def test_cnn_width_sets_the_feature_dim():
    assert build_model("cnn", 10, (1, 8, 8), width=8).feature_dim == 32


@pytest.mark.parametrize("arch", sorted(MODELS))
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 64, 64), (3, 12, 12)])
def test_every_model_fits_every_datasets_shape(arch, shape):
    """1 or 3 channels, 8 to 64 pixels: digits, (Fashion-)MNIST, CIFAR and SVHN, image folders."""
    model = build_model(arch, num_classes=7, input_shape=shape).eval()
    with torch.no_grad():
        logits, features = model(torch.rand(2, *shape)), model.features(torch.rand(2, *shape))
    assert logits.shape == (2, 7) and features.shape == (2, model.feature_dim)


def test_lenet_is_lenet5_at_28x28():
    """16 maps of 5x5 into 120, 84 and the head: LeNet-5's shape (with batch norm)."""
    model = build_model("lenet", 10, (1, 28, 28))
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(400, 120), (120, 84), (84, 10)]
    assert sum(p.numel() for p in model.parameters()) < 70_000


def test_a_torchvision_model_splits_into_body_and_head():
    model = build_model("torchvision", 10, (1, 28, 28), name="mobilenet_v3_small")
    assert isinstance(model.head, torch.nn.Linear) and model.head.out_features == 10
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(DauError, match="torchvision classification model"):
        build_model("torchvision", 10, (3, 32, 32), name="not_a_model")


def test_unknown_model_and_bad_arguments_are_user_errors():
    with pytest.raises(DauError, match="resnet18"):
        build_model("resnet50", 10, (3, 32, 32))
    with pytest.raises(DauError, match="resnet18"):
        build_model("resnet18", 10, (3, 32, 32), width=8)


def test_normalisation_is_inside_the_model():
    """Callers give [0, 1] images; the model's buffers (saved in the checkpoint) normalise them."""
    model = build_model("cnn", 10, (3, 32, 32))
    assert {"mean", "std"} <= set(model.state_dict())
