"""VGG-16 (torchvision's layout: 13 3x3 convs, 5 max pools, a 3-layer dense head) at 224x224:
its receptive field by the structural and the empirical methods, timed. The published value is
212 cells per axis (conv5_3 plus pool5: 1 + sum over layers of (k - 1) * spacing, halved each
side). Run: .venv/bin/python benchmarks/vgg16_rf.py [structural|empirical|both]"""

from __future__ import annotations

import sys
import time

import equinox as eqx
import jax

import archinspect

CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16(eqx.Module):
    layers: list
    head: list

    def __init__(self, key):
        keys = iter(jax.random.split(key, 32))
        layers, c = [], 3
        for v in CFG:
            if v == "M":
                layers.append(eqx.nn.MaxPool2d(2, 2))
            else:
                layers.append(eqx.nn.Conv2d(c, v, 3, padding=1, key=next(keys)))
                c = v
        self.layers = layers
        self.head = [
            eqx.nn.Linear(512 * 7 * 7, 4096, key=next(keys)),
            eqx.nn.Linear(4096, 4096, key=next(keys)),
            eqx.nn.Linear(4096, 1000, key=next(keys)),
        ]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
            if isinstance(layer, eqx.nn.Conv2d):
                x = jax.nn.relu(x)
        x = x.reshape(-1)
        for i, lin in enumerate(self.head):
            x = lin(x)
            if i < 2:
                x = jax.nn.relu(x)
        return x


class Trunk(eqx.Module):
    """VGG-16 without its dense head (the head fixes the input at 224x224)."""

    vgg: VGG16

    def __call__(self, x):
        for layer in self.vgg.layers:
            x = layer(x)
            if isinstance(layer, eqx.nn.Conv2d):
                x = jax.nn.relu(x)
        return x


if __name__ == "__main__":
    method = sys.argv[1] if len(sys.argv) > 1 else "structural"
    model = eqx.filter_eval_shape(VGG16, jax.random.key(0))
    for name, m in (("trunk", Trunk(model)), ("vgg16", model)):
        start = time.perf_counter()
        try:
            result = archinspect.receptive_field(m, (3, 224, 224), method=method).result
            print(
                name,
                method,
                result.per_axis,
                result.global_,
                f"{time.perf_counter() - start:.1f} s",
            )
        except Exception as exc:  # noqa: BLE001 (a benchmark: print what happened)
            print(name, method, "refused:", str(exc)[:400], f"{time.perf_counter() - start:.1f} s")
