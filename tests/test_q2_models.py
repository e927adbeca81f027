"""Q2 networks and their costs (2.3): shapes, parameter counts, multiply-adds."""

import sympy as sp
import torch

from compute.q2.cost import (
    LAYER_PARAMETERS,
    count_trainable_parameters,
    multiply_adds,
    parameter_rows,
    symbol_values,
)
from compute.q2.models import cnn_maxpool, cnn_strided


def test_both_networks_map_images_to_log_probabilities_of_four_classes():
    x = torch.rand(5, 1, 28, 28)
    for make in (cnn_maxpool, cnn_strided):
        model = make().eval()
        out = model(x)
        assert out.shape == (5, 4)
        torch.testing.assert_close(out.exp().sum(1), torch.ones(5))
        assert model.features(x).shape == (5, 16, 6, 6)


def test_both_networks_have_224892_trainable_parameters_and_225618_with_ten_classes():
    assert count_trainable_parameters(cnn_maxpool()) == 224_892
    assert count_trainable_parameters(cnn_strided()) == 224_892
    assert count_trainable_parameters(cnn_maxpool(n_classes=10)) == 225_618


def test_symbolic_parameter_formula_agrees_with_torch_layer_by_layer():
    rows = parameter_rows(cnn_maxpool())
    assert [(r["layer"], r["count"]) for r in rows] == [
        ("conv1", 80),
        ("conv2", 1_168),
        ("fc1", 184_640),
        ("fc2", 38_520),
        ("fc3", 484),
    ]
    assert all(r["count"] == r["torch"] for r in rows)
    # the stored srepr string is the formula itself
    assert sp.sympify(rows[2]["formula"]) == LAYER_PARAMETERS["fc1"]
    total = sum(LAYER_PARAMETERS.values()).subs(symbol_values(cnn_strided()))
    assert total == 224_892


def test_multiply_adds_per_image_are_about_446k_and_279k():
    maxpool, strided = multiply_adds(cnn_maxpool()), multiply_adds(cnn_strided())
    assert maxpool == {"conv1": 56_448, "conv2": 165_888, "fc1": 184_320, "fc2": 38_400, "fc3": 480}
    assert sum(maxpool.values()) == 445_536
    assert sum(strided.values()) == 278_784
