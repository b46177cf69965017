"""A temporal convolutional network in `flax.nnx`, written as a Flax user writes it (README,
"Flax NNX models"): channels last, `(batch, time, features)`.

A `TemporalBlock` holds two causal dilated convolutions, each followed by ReLU and dropout, and
adds its input back (through a 1x1 convolution when the channel count changes) before a last
ReLU; block i of the stack has dilation 2**i, and a 1x1 decoder maps to the output features.
Its receptive field is (sum over blocks of 2 (k - 1) 2**i, 0): causal, so nothing ahead.

`configs/flax_tcn.yaml` inspects it: `archinspect rf configs/flax_tcn.yaml --method both`.
"""

from __future__ import annotations

from collections.abc import Sequence

try:
    from flax import nnx
except ImportError as exc:  # pragma: no cover - exercised by simulating a missing flax
    raise ImportError(
        "archinspect.examples.flax_tcn needs flax, which is not installed; install the extra: "
        "pip install 'archinspect[flax]'",
        name="flax",
    ) from exc


class TemporalBlock(nnx.Module):
    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int,
        dilation: int,
        dropout: float,
        *,
        rngs: nnx.Rngs,
    ):
        self.conv1 = nnx.Conv(
            in_features,
            out_features,
            kernel_size=(kernel_size,),
            kernel_dilation=(dilation,),
            padding="CAUSAL",
            rngs=rngs,
        )
        self.dropout1 = nnx.Dropout(dropout, rngs=rngs)
        self.conv2 = nnx.Conv(
            out_features,
            out_features,
            kernel_size=(kernel_size,),
            kernel_dilation=(dilation,),
            padding="CAUSAL",
            rngs=rngs,
        )
        self.dropout2 = nnx.Dropout(dropout, rngs=rngs)
        self.downsample = (
            nnx.Conv(in_features, out_features, kernel_size=(1,), rngs=rngs)
            if in_features != out_features
            else None
        )

    def __call__(self, x):
        y = self.dropout1(nnx.relu(self.conv1(x)))
        y = self.dropout2(nnx.relu(self.conv2(y)))
        residual = x if self.downsample is None else self.downsample(x)
        return nnx.relu(y + residual)


class TCN(nnx.Module):
    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_channels: Sequence[int] = (32, 32, 32, 32),
        kernel_size: int = 3,
        dropout: float = 0.2,
        *,
        rngs: nnx.Rngs,
    ):
        blocks = []
        for i, features in enumerate(num_channels):
            previous = in_features if i == 0 else num_channels[i - 1]
            blocks.append(TemporalBlock(previous, features, kernel_size, 2**i, dropout, rngs=rngs))
        self.blocks = nnx.List(blocks)
        self.decoder = nnx.Conv(num_channels[-1], out_features, kernel_size=(1,), rngs=rngs)

    def __call__(self, x):
        for block in self.blocks:
            x = block(x)
        return self.decoder(x)
