"""Q2.3: trainable parameters (counted from the modules and from a per-layer formula),
multiply-adds per image, and measured inference time per image, for both networks."""

from __future__ import annotations

import time

import sympy as sp
import torch
from torch import nn

from compute.q2.models import CNN, NETWORKS
from compute.torchtools import count_trainable_parameters, torch_threads

C_in, C1, C2, k, s, H1, H2, K = sp.symbols(
    "C_in C_1 C_2 k s H_1 H_2 K", positive=True, integer=True
)
# weights + biases of each layer; s is the side of the feature map fed to fc1 (6 for both networks)
LAYER_PARAMETERS = {
    "conv1": C1 * (C_in * k**2 + 1),
    "conv2": C2 * (C1 * k**2 + 1),
    "fc1": H1 * (C2 * s**2 + 1),
    "fc2": H2 * (H1 + 1),
    "fc3": K * (H2 + 1),
}


def symbol_values(model: CNN) -> dict[sp.Symbol, int]:
    d = model.dims
    return {
        C_in: d.in_channels,
        C1: d.conv1_channels,
        C2: d.conv2_channels,
        k: d.kernel,
        s: d.feature_size,
        H1: d.fc1,
        H2: d.fc2,
        K: d.n_classes,
    }


def layers(model: CNN) -> dict[str, nn.Module]:
    f, c = model.features, model.classifier
    return {"conv1": f.conv1, "conv2": f.conv2, "fc1": c.fc1, "fc2": c.fc2, "fc3": c.fc3}


def parameter_rows(model: CNN) -> list[dict]:
    """Per layer: the formula (sympy srepr), its value for this model, and the count from torch."""
    values = symbol_values(model)
    return [
        {
            "layer": name,
            "formula": sp.srepr(LAYER_PARAMETERS[name]),
            "count": int(LAYER_PARAMETERS[name].subs(values)),
            "torch": count_trainable_parameters(m),
        }
        for name, m in layers(model).items()
    ]


def multiply_adds(model: CNN) -> dict[str, int]:
    """Multiply-adds per image of each convolution and linear layer, counted on a forward pass."""
    counts = {}

    def hook(name):
        def record(module, inputs, output):
            if isinstance(module, nn.Conv2d):
                per_output = (
                    module.in_channels
                    // module.groups
                    * module.kernel_size[0]
                    * module.kernel_size[1]
                )
                counts[name] = output[0].numel() * per_output
            else:
                counts[name] = module.in_features * module.out_features

        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in layers(model).items()]
    with torch.no_grad():
        model.eval()(
            torch.zeros(1, model.dims.in_channels, model.dims.image_size, model.dims.image_size)
        )
    for h in handles:
        h.remove()
    return counts


# the sizes the dimensions declare, in the order the text lists them; all but the image's are also
# read off the constructed modules and a forward pass (the report checks the image's against the
# data's images)
ARCHITECTURE_SIZES = (
    "image_size",
    "in_channels",
    "conv1_channels",
    "conv2_channels",
    "kernel",
    "fc1",
    "fc2",
    "n_classes",
    "dropout",
    "downsample",
    "conv1_size",
    "conv2_input_size",
    "conv2_size",
    "feature_size",
    "flat_features",
)


def forward_sides(model: CNN) -> dict[str, int]:
    """The side of each feature map of a forward pass (each convolution's output, the second
    convolution's input, the features') and the width of the flattened features."""
    d, f = model.dims, model.features
    sides = {}

    def side(name):
        def record(module, inputs, output):
            sides[name] = output.shape[-1]

        return record

    hooks = [
        m.register_forward_hook(side(name))
        for name, m in (("conv1", f.conv1), ("conv2", f.conv2), ("features", f))
    ]
    hooks.append(
        f.conv2.register_forward_pre_hook(
            lambda module, inputs: sides.update(conv2_in=inputs[0].shape[-1])
        )
    )
    with torch.no_grad():
        x = torch.zeros(1, d.in_channels, d.image_size, d.image_size)
        flat = model.features(x).flatten(1).shape[1]
    for h in hooks:
        h.remove()
    return sides | {"flat": flat}


def architecture(model: CNN) -> dict:
    """The sizes the dimensions declare, and the same sizes read off the constructed modules and a
    forward pass (side of each feature map, flattened width), for the text to state and check."""
    d, f, c = model.dims, model.features, model.classifier
    sides = forward_sides(model)
    # the downsampling factor as the forward pass shows it: the pooling shrinks the map between
    # the convolutions, a stride shrinks the convolution's own output
    downsample = (
        sides["conv1"] // sides["conv2_in"]
        if sides["conv2_in"] < sides["conv1"]
        else f.conv1.stride[0]
    )
    constructed = {
        "in_channels": f.conv1.in_channels,
        "conv1_channels": f.conv1.out_channels,
        "conv2_channels": f.conv2.out_channels,
        "kernel": f.conv1.kernel_size[0],
        "fc1": c.fc1.out_features,
        "fc2": c.fc2.out_features,
        "n_classes": c.fc3.out_features,
        "dropout": c.dropout.p,
        "downsample": downsample,
        "conv1_size": sides["conv1"],
        "conv2_input_size": sides["conv2_in"],
        "conv2_size": sides["conv2"],
        "feature_size": sides["features"],
        "flat_features": sides["flat"],
    }
    declared = {name: getattr(d, name) for name in ARCHITECTURE_SIZES}
    return {"declared": declared, "constructed": constructed}


def inference_seconds_per_image(model: CNN, device: str, batch: int, repeats: int) -> float:
    """Best of `repeats` timed forward passes (evaluation mode) on a batch, per image."""
    model = model.to(device).eval()
    x = torch.rand(batch, 1, model.dims.image_size, model.dims.image_size, device=device)
    best = float("inf")
    with torch.no_grad():
        for i in range(repeats + 2):  # the first passes warm up kernels and caches
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(x)
            if device == "cuda":
                torch.cuda.synchronize()
            if i >= 2:
                best = min(best, time.perf_counter() - start)
    return best / batch


def run(ctx) -> dict:
    """The q2.cost step (2.3)."""
    p = ctx.params
    with torch_threads(p["cpu_threads"]) as threads:
        networks = {}
        for net, make in NETWORKS.items():
            model = make()
            rows = parameter_rows(model)
            symbolic = int(sum(LAYER_PARAMETERS.values()).subs(symbol_values(model)))
            macs = multiply_adds(model)
            networks[net] = {
                "param_rows": rows,
                "params_torch": count_trainable_parameters(model),
                "params_symbolic": symbolic,
                "params_agree": symbolic == count_trainable_parameters(model)
                and all(r["count"] == r["torch"] for r in rows),
                "params_with_10_classes": count_trainable_parameters(make(n_classes=10)),
                "symbols": {str(sym): v for sym, v in symbol_values(model).items()},
                "macs_rows": [{"layer": name, "macs": m} for name, m in macs.items()],
                "macs": sum(macs.values()),
                "architecture": architecture(model),
                "inference_seconds_per_image": {
                    str(b): inference_seconds_per_image(model, ctx.device, b, p["timing_repeats"])
                    for b in p["timing_batches"]
                },
            }
    return {
        "networks": networks,
        "total_formula": sp.srepr(sum(LAYER_PARAMETERS.values())),
        "device": ctx.device,
        "cpu_threads": threads,
    }
