"""The two convolutional networks of Q2: `cnn_maxpool` (2.1) and `cnn_strided` (2.2)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class CNNDimensions:
    image_size: int = 28
    in_channels: int = 1
    conv1_channels: int = 8
    conv2_channels: int = 16
    kernel: int = 3
    fc1: int = 320
    fc2: int = 120
    n_classes: int = 4
    dropout: float = 0.7
    max_pool: bool = True  # 2.1 downsamples by max-pooling, 2.2 by stride-2 convolutions
    downsample: int = 2  # the pooling window of 2.1 and the stride of 2.2

    @property
    def conv1_stride(self) -> int:
        return 1 if self.max_pool else self.downsample

    @property
    def conv1_size(self) -> int:
        """Side of conv1's output map (padding 1)."""
        return (self.image_size + 2 - self.kernel) // self.conv1_stride + 1

    @property
    def conv2_input_size(self) -> int:
        return self.conv1_size // self.downsample if self.max_pool else self.conv1_size

    @property
    def conv2_size(self) -> int:
        """Side of conv2's output map (no padding)."""
        return (self.conv2_input_size - self.kernel) // self.conv1_stride + 1

    @property
    def feature_size(self) -> int:
        """Side of the feature map that is flattened into the classifier."""
        return self.conv2_size // self.downsample if self.max_pool else self.conv2_size

    @property
    def flat_features(self) -> int:
        return self.conv2_channels * self.feature_size**2


class Features(nn.Module):
    """Two convolutions with ReLU, each followed by 2x2 max-pooling (2.1) or with stride 2 (2.2)."""

    def __init__(self, dims: CNNDimensions):
        super().__init__()
        s = dims.conv1_stride
        self.pool = dims.downsample if dims.max_pool else 0
        self.conv1 = nn.Conv2d(
            dims.in_channels, dims.conv1_channels, dims.kernel, stride=s, padding=1
        )
        self.conv2 = nn.Conv2d(
            dims.conv1_channels, dims.conv2_channels, dims.kernel, stride=s, padding=0
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 1, 28, 28) -> (batch, 16, 6, 6)"""
        x = F.relu(self.conv1(x))
        if self.pool:
            x = F.max_pool2d(x, self.pool)
        x = F.relu(self.conv2(x))
        if self.pool:
            x = F.max_pool2d(x, self.pool)
        return x


class Classifier(nn.Module):
    """fc 320, ReLU, dropout, fc 120, ReLU, fc n_classes, log-softmax."""

    def __init__(self, dims: CNNDimensions):
        super().__init__()
        self.fc1 = nn.Linear(dims.flat_features, dims.fc1)
        self.dropout = nn.Dropout(dims.dropout)
        self.fc2 = nn.Linear(dims.fc1, dims.fc2)
        self.fc3 = nn.Linear(dims.fc2, dims.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 576) -> (batch, n_classes) log-probabilities"""
        x = self.dropout(F.relu(self.fc1(x)))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), dim=-1)


class CNN(nn.Module):
    def __init__(self, dims: CNNDimensions):
        super().__init__()
        self.dims = dims
        self.features = Features(dims)
        self.classifier = Classifier(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 1, 28, 28) -> (batch, n_classes) log-probabilities"""
        return self.classifier(self.features(x).flatten(1))


def cnn_maxpool(n_classes: int = 4) -> CNN:
    """The 2.1 network: stride-1 convolutions, each followed by 2x2 max-pooling."""
    return CNN(CNNDimensions(n_classes=n_classes, max_pool=True))


def cnn_strided(n_classes: int = 4) -> CNN:
    """The 2.2 network: no pooling; the convolutions downsample with stride 2."""
    return CNN(CNNDimensions(n_classes=n_classes, max_pool=False))


NETWORKS = {"cnn_maxpool": cnn_maxpool, "cnn_strided": cnn_strided}
