"""The one recorder of module calls: paths, call order, shapes, and taps that see the same calls.

The model below is written so that every expected row follows from reading `__call__`:
Outer calls `first` (a Linear-like Scale on 3 values), then `inner` twice (shared weights),
and Inner calls its own `scale`; modules built during a call are not part of the tree and
are not recorded.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from archinspect.analysis.recorder import Call, Event, ShapeTap, recording, traced_calls


class Scale(eqx.Module):
    w: jax.Array

    def __call__(self, x):
        return self.w * x


class Inner(eqx.Module):
    scale: Scale

    def __call__(self, x):
        return jnp.concatenate([self.scale(x), x])  # 3 -> 6 values


class Outer(eqx.Module):
    first: Scale
    inner: Inner

    def __call__(self, x):
        y = self.inner(self.first(x))  # 3 -> 6
        throwaway = Scale(jnp.ones(()))  # built during the call: not in the tree
        return throwaway(self.inner(y[:3]))  # 3 -> 6


def model() -> Outer:
    return Outer(Scale(jnp.ones(3)), Inner(Scale(jnp.ones(3))))


class Log:
    """A tap that writes down what it is told."""

    def __init__(self, seen: list):
        self.seen = seen

    def before(self, event: Event) -> None:
        self.seen.append(("before", event.path, event.order, event.depth))

    def after(self, event: Event, out):
        self.seen.append(("after", event.path, event.order, event.depth))
        return out


def test_calls_of_a_nested_module_in_completion_order():
    out, calls = traced_calls(model(), jax.ShapeDtypeStruct((3,), jnp.float32))
    assert out.shape == (6,)
    # Completion order (children first); `order` is when each call started: the root is 0,
    # first 1, inner 2 with its scale 3, then the second inner call 4 with its scale 5. Each
    # call keeps its output and its input dtypes (one float32 array each way).
    assert calls == [
        Call("first", "Scale", 1, 1, ((3,),), ((3,),), ("float32",), ("float32",)),
        Call("inner.scale", "Scale", 3, 2, ((3,),), ((3,),), ("float32",), ("float32",)),
        Call("inner", "Inner", 2, 1, ((3,),), ((6,),), ("float32",), ("float32",)),
        Call("inner.scale", "Scale", 5, 2, ((3,),), ((3,),), ("float32",), ("float32",)),
        Call("inner", "Inner", 4, 1, ((3,),), ((6,),), ("float32",), ("float32",)),
        Call("", "Outer", 0, 0, ((3,),), ((6,),), ("float32",), ("float32",)),
    ]


def test_two_taps_see_the_same_calls_in_the_same_order():
    first: list = []
    second: list = []
    calls: list[Call] = []

    def forward(m, x):
        with recording(m, [Log(first), ShapeTap(calls), Log(second)]):
            return m(x)

    eqx.filter_eval_shape(forward, model(), jax.ShapeDtypeStruct((3,), jnp.float32))
    assert first == second
    assert [(kind, path) for kind, path, _, _ in first] == [
        ("before", ""),
        ("before", "first"),
        ("after", "first"),
        ("before", "inner"),
        ("before", "inner.scale"),
        ("after", "inner.scale"),
        ("after", "inner"),
        ("before", "inner"),
        ("before", "inner.scale"),
        ("after", "inner.scale"),
        ("after", "inner"),
        ("after", ""),
    ]
    # The shape tap's rows are the "after" notifications, with the same order stamps.
    assert [(c.path, c.order, c.depth) for c in calls] == [
        (path, order, depth) for kind, path, order, depth in first if kind == "after"
    ]


def test_a_tap_may_replace_an_output_and_the_classes_are_restored():
    class Double:
        def before(self, event: Event) -> None:
            pass

        def after(self, event: Event, out):
            return 2 * out if event.path == "first" else out

    m = model()
    x = jnp.arange(3.0)
    originals = {cls: cls.__dict__["__call__"] for cls in (Scale, Inner, Outer)}
    with recording(m, [Double()]):
        assert Scale.__dict__["__call__"] is not originals[Scale]
        y = m(x)
    # first doubles x, inner concatenates [first(x), first(x)] scaled by ones: [2x, 2x].
    # The second inner call sees y[:3] = 2x: [2x, 2x] again.
    assert y.tolist() == [0.0, 2.0, 4.0, 0.0, 2.0, 4.0]
    # Outside the recording, the classes are the originals again.
    assert m(x).tolist() == [0.0, 1.0, 2.0, 0.0, 1.0, 2.0]
    assert {cls: cls.__dict__["__call__"] for cls in originals} == originals
