"""Built-in torch architectures: a multi-layer perceptron and two small convnets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from miaudit.errors import ConfigError, short_repr
from miaudit.validation import check_int

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
}


def _positive_int(value: object, what: str) -> int:
    return check_int(value, what, low=1)


def _widths(value: object, what: str, *, allow_empty: bool) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"{what} must be a list of layer widths, got {short_repr(value)}")
    widths = tuple(_positive_int(v, f"each entry of {what}") for v in value)
    if not widths and not allow_empty:
        raise ConfigError(f"{what} needs at least one layer width")
    return widths


def _dropout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ConfigError(f"dropout must be a number in [0, 1), got {short_repr(value)}")
    return float(value)


def _activation(name: object) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise ConfigError(
            f"unknown activation {short_repr(name)}; valid: {', '.join(sorted(ACTIVATIONS))}"
        )
    return ACTIVATIONS[name]  # type: ignore[index]


class MLP(nn.Module):
    """Fully connected classifier: flatten -> [linear -> activation -> dropout]* -> linear.

    Args:
        input_dim: number of input features (records are flattened, so images work too).
        num_classes: number of output logits.
        hidden: widths of the hidden layers (empty for multinomial logistic regression).
        activation: "relu", "tanh", "gelu" or "sigmoid".
        dropout: dropout probability after each hidden layer.
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        hidden: Sequence[int] = (256,),
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_dim = _positive_int(input_dim, "input_dim")
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.hidden = _widths(hidden, "hidden", allow_empty=True)
        self.activation = str(activation)
        act = _activation(activation)
        self.dropout = _dropout(dropout)
        layers: list[nn.Module] = [nn.Flatten()]
        width = self.input_dim
        for h in self.hidden:
            layers += [nn.Linear(width, h), act()]
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            width = h
        layers.append(nn.Linear(width, self.num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def describe(self) -> str:
        """E.g. ``MLP(446-1024-512-30, relu)``."""
        dims = "-".join(str(d) for d in (self.input_dim, *self.hidden, self.num_classes))
        extra = f", dropout={self.dropout:g}" if self.dropout else ""
        return f"MLP({dims}, {self.activation}{extra})"


class CNN(nn.Module):
    """Small convnet: [conv3x3 -> ReLU -> maxpool2]* -> linear -> ReLU -> dropout -> linear.

    Designed for 28x28 (MNIST-like) and 32x32 (CIFAR-like) images of shape (n, C, H, W);
    any square size that survives the poolings works. The flattened size is computed from
    ``image_size`` (each 3x3 convolution keeps the size, each pooling halves it, rounding
    down).

    Args:
        in_channels: image channels C.
        image_size: image height = width.
        num_classes: number of output logits.
        channels: output channels of each convolution stage.
        hidden: width of the fully connected layer.
        dropout: dropout probability before the last layer.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.image_size = _positive_int(image_size, "image_size")
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.channels = _widths(channels, "channels", allow_empty=False)
        self.hidden = _positive_int(hidden, "hidden")
        self.dropout = _dropout(dropout)
        side = self.image_size // 2 ** len(self.channels)
        if side < 1:
            raise ConfigError(
                f"image_size {self.image_size} is too small for {len(self.channels)} "
                f"pooling stages (needs at least {2 ** len(self.channels)})"
            )
        layers: list[nn.Module] = []
        c = self.in_channels
        for out in self.channels:
            layers += [nn.Conv2d(c, out, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c = out
        self.features = nn.Sequential(*layers)
        self.flat_dim = c * side * side
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(self.flat_dim, self.hidden), nn.ReLU()]
        if self.dropout > 0:
            head.append(nn.Dropout(self.dropout))
        head.append(nn.Linear(self.hidden, self.num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def describe(self) -> str:
        """E.g. ``CNN(3x32x32, conv 32-64, fc 128, 10 classes)``."""
        convs = "-".join(str(c) for c in self.channels)
        s = self.image_size
        return (
            f"CNN({self.in_channels}x{s}x{s}, conv {convs}, fc {self.hidden}, "
            f"{self.num_classes} classes)"
        )


def _conv_out(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class SampleConvNet(nn.Module):
    """The convnet of Opacus' MNIST example (``SampleConvNet``), the DP-SGD reference model.

    conv 8x8 stride 2 padding 3 -> ReLU -> maxpool 2 stride 1 -> conv 4x4 stride 2 -> ReLU ->
    maxpool 2 stride 1 -> linear -> ReLU -> linear. For 1x28x28 images with the default widths
    this is Opacus' 16-32 conv, 512-32-10 network (26,010 parameters). It has no batch norm,
    so Opacus can clip its per-sample gradients directly.

    Args:
        in_channels: image channels C.
        image_size: image height = width (at least 10).
        num_classes: number of output logits.
        channels: output channels of the two convolutions.
        hidden: width of the fully connected layer.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        channels: Sequence[int] = (16, 32),
        hidden: int = 32,
    ) -> None:
        super().__init__()
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.image_size = _positive_int(image_size, "image_size")
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.channels = _widths(channels, "channels", allow_empty=False)
        if len(self.channels) != 2:
            raise ConfigError(
                f"sample_convnet has two convolutions, got channels={short_repr(channels)}"
            )
        self.hidden = _positive_int(hidden, "hidden")
        side = _conv_out(self.image_size, 8, 2, 3) - 1  # conv1, then maxpool 2 stride 1
        side = _conv_out(side, 4, 2) - 1  # conv2, then maxpool 2 stride 1
        if side < 1:
            raise ConfigError(
                f"image_size {self.image_size} is too small for sample_convnet (needs >= 14)"
            )
        c1, c2 = self.channels
        self.features = nn.Sequential(
            nn.Conv2d(self.in_channels, c1, kernel_size=8, stride=2, padding=3),
            nn.ReLU(),
            nn.MaxPool2d(2, 1),
            nn.Conv2d(c1, c2, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.MaxPool2d(2, 1),
        )
        self.flat_dim = c2 * side * side
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.flat_dim, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, self.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def describe(self) -> str:
        """E.g. ``SampleConvNet(1x28x28, conv 16-32, fc 32, 10 classes)``."""
        convs = "-".join(str(c) for c in self.channels)
        s = self.image_size
        return (
            f"SampleConvNet({self.in_channels}x{s}x{s}, conv {convs}, fc {self.hidden}, "
            f"{self.num_classes} classes)"
        )


# --- sizes before building (issue 9 item 11) ------------------------------------------------
# Each ``*_footprint`` takes the constructor's arguments, validates them the same way, and
# returns (parameters, activations per record) without allocating anything, so a recipe
# like hidden=[100000000] is refused with an estimate instead of running out of memory.


def _linear(fan_in: int, fan_out: int) -> int:
    return (fan_in + 1) * fan_out


def mlp_footprint(
    input_dim: int,
    num_classes: int,
    hidden: Sequence[int] = (256,),
    activation: str = "relu",
    dropout: float = 0.0,
) -> tuple[int, int]:
    """(parameters, activations per record) of :class:`MLP` with these arguments."""
    dims = (
        _positive_int(input_dim, "input_dim"),
        *_widths(hidden, "hidden", allow_empty=True),
        _positive_int(num_classes, "num_classes"),
    )
    _activation(activation)
    _dropout(dropout)
    params = sum(_linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=False))
    return params, sum(dims)


def cnn_footprint(
    in_channels: int,
    image_size: int,
    num_classes: int,
    channels: Sequence[int] = (32, 64),
    hidden: int = 128,
    dropout: float = 0.0,
) -> tuple[int, int]:
    """(parameters, activations per record) of :class:`CNN` with these arguments."""
    c = _positive_int(in_channels, "in_channels")
    side = _positive_int(image_size, "image_size")
    classes = _positive_int(num_classes, "num_classes")
    widths = _widths(channels, "channels", allow_empty=False)
    hidden = _positive_int(hidden, "hidden")
    _dropout(dropout)
    params, acts = 0, c * side * side
    for out in widths:
        params += c * out * 9 + out
        acts += 2 * out * side * side + out * (side // 2) ** 2  # conv, ReLU, pooling
        c, side = out, side // 2
    if side < 1:
        CNN(in_channels, image_size, num_classes, channels=widths)  # raises its error
    flat = c * side**2
    params += _linear(flat, hidden) + _linear(hidden, classes)
    return params, acts + 2 * hidden + classes


def sample_convnet_footprint(
    in_channels: int,
    image_size: int,
    num_classes: int,
    channels: Sequence[int] = (16, 32),
    hidden: int = 32,
) -> tuple[int, int]:
    """(parameters, activations per record) of :class:`SampleConvNet` with these arguments."""
    c = _positive_int(in_channels, "in_channels")
    size = _positive_int(image_size, "image_size")
    classes = _positive_int(num_classes, "num_classes")
    widths = _widths(channels, "channels", allow_empty=False)
    if len(widths) != 2:
        raise ConfigError(
            f"sample_convnet has two convolutions, got channels={short_repr(channels)}"
        )
    hidden = _positive_int(hidden, "hidden")
    c1, c2 = widths
    s1 = _conv_out(size, 8, 2, 3)
    s2 = _conv_out(s1 - 1, 4, 2)
    if s2 - 1 < 1:
        raise ConfigError(f"image_size {size} is too small for sample_convnet (needs >= 14)")
    flat = c2 * (s2 - 1) ** 2
    params = c * c1 * 64 + c1 + c1 * c2 * 16 + c2 + _linear(flat, hidden) + _linear(hidden, classes)
    acts = c * size * size + 3 * c1 * s1 * s1 + 3 * c2 * s2 * s2 + 2 * hidden + classes
    return params, acts
