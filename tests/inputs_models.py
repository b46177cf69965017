"""Small Equinox models for the input and build tests (README "Inputs of any shape",
"Constructors that need concrete values"); targets as `tests.inputs_models.<Name>`."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp


class SeqConv(eqx.Module):
    """A sequence (L, D), features last: a width-3 conv along it, then a width-1 conv."""

    conv: eqx.nn.Conv1d
    out: eqx.nn.Conv1d

    def __init__(self, features: int, hidden: int, key: jax.Array):
        k1, k2 = jax.random.split(key)
        self.conv = eqx.nn.Conv1d(features, hidden, 3, padding=1, key=k1)
        self.out = eqx.nn.Conv1d(hidden, features, 1, key=k2)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(jax.nn.relu(self.conv(x.T))).T


class Tokens(eqx.Module):
    """A sequence of token ids (L,): embedded, then a width-5 conv along the sequence."""

    emb: eqx.nn.Embedding
    conv: eqx.nn.Conv1d

    def __init__(self, vocab: int, features: int, key: jax.Array):
        k1, k2 = jax.random.split(key)
        self.emb = eqx.nn.Embedding(vocab, features, key=k1)
        self.conv = eqx.nn.Conv1d(features, features, 5, padding=2, key=k2)

    def __call__(self, ids: jax.Array) -> jax.Array:
        return self.conv(jnp.take(self.emb.weight, ids, axis=0).T)


class Sizes(eqx.Module):
    """Only concretely constructible: its sizes come from `.tolist()` of an array it computes
    (the traced constructor meets a tracer there)."""

    weights: list

    def __init__(self, n: int, width: int, key: jax.Array):
        sizes = (jnp.arange(1, n + 1) * width).tolist()
        keys = jax.random.split(key, n)
        self.weights = [jax.random.normal(k, (s, width)) for k, s in zip(keys, sizes, strict=True)]

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.concatenate([w @ x for w in self.weights])
