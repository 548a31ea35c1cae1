"""The layer chain written once (models/network.py): the host's rule between layers, the
runners, and the digits network walked through them (expected values by hand-written numpy)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from oxbnn.models.digits import LAYERS, load_params, load_split
from oxbnn.models.layer import LayerSpec
from oxbnn.models.network import (
    NetworkError,
    NetworkLayer,
    golden_inputs,
    layer_input,
    run_network,
    run_network_async,
)

#: A toy chain: 1 x 1 conv 2 x 2 x 1 -> 3 channels, then fc 12 -> 2.
CONV = LayerSpec(kind="conv", height=2, width=2, in_channels=1, out_channels=3)
FC = LayerSpec.fc(12, 2)


def _toy_layers():
    return [NetworkLayer(CONV, None, None, None), NetworkLayer(FC, None, None, None)]


def test_fc_input_is_flattened_y_x_c():
    act = np.arange(2 * 2 * 3).reshape(2, 2, 3)
    x = layer_input(FC, act)
    assert x.shape == (1, 1, 12)
    # (y, x, c) = (1, 0, 2) is element (1 * 2 + 0) * 3 + 2 = 8.
    assert x[0, 0, 8] == act[1, 0, 2] == 8


def test_conv_input_is_taken_as_it_is():
    act = np.zeros((2, 2, 1), np.uint8)
    assert layer_input(CONV, act) is act


def test_wrong_shapes_are_named_errors():
    with pytest.raises(NetworkError, match=r"layer 1: a fully-connected layer of K = 12 inputs"):
        layer_input(FC, np.zeros((2, 2, 2)), where="layer 1")
    with pytest.raises(NetworkError, match=r"input has shape \(2, 3, 1\); expected \(2, 2, 1\)"):
        layer_input(CONV, np.zeros((2, 3, 1)))


def test_run_network_feeds_each_output_to_the_next_layer():
    seen = []

    def layer_fn(index, layer, act):
        seen.append((index, layer.spec.kind, act.shape, act.reshape(-1)[:3].tolist()))
        out = np.arange(int(np.prod(layer.spec.final_shape))).reshape(layer.spec.final_shape)
        return out + 100 * index, f"record {index}"  # a tuple: the output comes first

    last, records = run_network(_toy_layers(), np.zeros((2, 2, 1)), layer_fn)
    assert seen == [(0, "conv", (2, 2, 1), [0, 0, 0]), (1, "fc", (1, 1, 12), [0, 1, 2])]
    assert last.tolist() == [[[100, 101]]]
    assert [r[1] for r in records] == ["record 0", "record 1"]


def test_the_async_runner_walks_the_same_chain():
    async def layer_fn(index, layer, act):
        return np.full(layer.spec.final_shape, act.size)

    last, records = asyncio.run(run_network_async(_toy_layers(), np.zeros((2, 2, 1)), layer_fn))
    # conv sees 4 values and outputs 2 x 2 x 3 fours; fc sees 12 values and outputs twelves.
    assert records[0].shape == (2, 2, 3) and np.all(records[0] == 4)
    assert last.tolist() == [[[12, 12]]]


def test_digits_network_exposes_its_layers():
    net = load_params()
    assert [layer.spec for layer in net.network] == list(LAYERS)
    for layer, w, t, f in zip(net.network, net.weights, net.thresholds, net.flips, strict=True):
        assert layer.weights is w and layer.thresholds is t and layer.flip is f


def _by_hand_fc(act, weights, thresholds=None, flip=None):
    """+-1 dot products of a flat bit vector with flat filters; thresholded if given."""
    a = np.asarray(act).reshape(-1)
    w = np.asarray(weights).reshape(len(weights), -1)
    dot = 2 * (w == a).sum(axis=1) - a.size
    if thresholds is None:
        return dot
    return np.where(flip, dot <= thresholds, dot >= thresholds).astype(np.uint8)


def test_golden_inputs_chain_the_digits_layers():
    net = load_params()
    image = net.binarize(load_split().test_images[:1])[0]
    inputs = golden_inputs(net.network, image)
    assert [x.shape for x in inputs] == [(8, 8, 3), (1, 1, 512), (1, 1, 32)]
    assert np.array_equal(inputs[0], image)
    # The last two layers by hand: fc on the second input gives the third; its logits.
    fc_bits = _by_hand_fc(inputs[1], net.weights[1], net.thresholds[1], net.flips[1])
    assert np.array_equal(inputs[2].reshape(-1), fc_bits)
    logits = _by_hand_fc(inputs[2], net.weights[2])
    assert np.array_equal(net.forward_golden(image), logits)
