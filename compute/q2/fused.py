"""Several SGD runs of one Q2 network trained side by side as one wide network.

At batch 8 a single run spends about half its time on per-operation overhead, so the runs of a
network (one per learning rate) share every operation: run r owns slice r of each tensor, the
first convolution has R x 8 output channels, the second is grouped (groups=R), the fully
connected layers are batched matmuls. The backward pass is written out so that each weight
gradient goes straight into its SGD update; per run, the arithmetic is plain SGD on its own
copy of the network (tests/test_q2_fused.py checks it against torch.optim.SGD).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.ops import aten

from compute.q2.models import CNN

POOL = ([2, 2], [2, 2], [0, 0], [1, 1], False)  # kernel, stride, padding, dilation, ceil_mode


def _stack(tensors: list[torch.Tensor], device) -> torch.Tensor:
    return torch.stack([t.detach().float() for t in tensors]).to(device).contiguous()


class FusedCNN:
    """R copies of one network (same dimensions), each with its own parameters and learning rate."""

    def __init__(self, models: list[CNN], learning_rates: list[float], device="cpu"):
        dims = models[0].dims
        assert all(m.dims == dims for m in models) and len(models) == len(learning_rates)
        self.dims, self.runs = dims, len(models)
        R, f = self.runs, [m.features for m in models]
        # (9, R*8): conv1 as patches @ conv1_w, and its update a plain matmul, with no transposes
        self.conv1_w = (
            _stack([m.conv1.weight.flatten(1) for m in f], device).flatten(0, 1).t().contiguous()
        )
        self.conv1_b = _stack([m.conv1.bias for m in f], device).flatten()
        # (R*16, 8, 3, 3), channels-last like the activations, so no convolution converts it
        self.conv2_w = (
            _stack([m.conv2.weight for m in f], device)
            .flatten(0, 1)
            .contiguous(memory_format=torch.channels_last)
        )
        self.conv2_b = _stack([m.conv2.bias for m in f], device).flatten()
        fcs = [[m.classifier.fc1, m.classifier.fc2, m.classifier.fc3] for m in models]
        # (R, in, out): the layout of the batched matmul, so updates need no transposes
        self.fc_w = [_stack([run[i].weight.t() for run in fcs], device) for i in range(3)]
        self.fc_b = [_stack([run[i].bias[None] for run in fcs], device) for i in range(3)]
        self.lr = torch.tensor(learning_rates, dtype=torch.float32, device=device).view(R, 1, 1)
        self._lr_over_batch: dict[int, torch.Tensor] = {}

    def to_models(self) -> list[CNN]:
        """The R trained networks as ordinary modules."""
        R, d = self.runs, self.dims
        models = [CNN(d).to(self.lr.device) for _ in range(R)]
        with torch.no_grad():
            for r, m in enumerate(models):
                f, c = m.features, m.classifier
                f.conv1.weight.copy_(self.conv1_w.t().reshape(R, *f.conv1.weight.shape)[r])
                f.conv1.bias.copy_(self.conv1_b.view(R, -1)[r])
                f.conv2.weight.copy_(self.conv2_w.view(R, *f.conv2.weight.shape)[r])
                f.conv2.bias.copy_(self.conv2_b.view(R, -1)[r])
                for i, fc in enumerate([c.fc1, c.fc2, c.fc3]):
                    fc.weight.copy_(self.fc_w[i][r].t())
                    fc.bias.copy_(self.fc_b[i][r, 0])
        return models

    def state(self) -> dict[str, torch.Tensor]:
        tensors = [self.conv1_w, self.conv1_b, self.conv2_w, self.conv2_b, *self.fc_w, *self.fc_b]
        return {str(i): t for i, t in enumerate(tensors)}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        tensors = [self.conv1_w, self.conv1_b, self.conv2_w, self.conv2_b, *self.fc_w, *self.fc_b]
        for i, t in enumerate(tensors):
            t.copy_(state[str(i)])

    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (batch, 1, 28, 28) -> activations of the convolutional part, f: (R, batch, 576)"""
        d, B, R = self.dims, x.shape[0], self.runs
        s, n = d.conv1_stride, d.conv1_size
        # one input channel: conv1 is a matmul on the image patches, whose output is already
        # channels-last, the layout in which CPU max-pooling is fast
        cols = F.unfold(x, d.kernel, padding=1, stride=s).transpose(1, 2).reshape(B * n * n, -1)
        a1 = torch.addmm(self.conv1_b, cols, self.conv1_w).view(B, n, n, -1).permute(0, 3, 1, 2)
        act = {"cols": cols, "a1": a1}
        if d.max_pool:
            p1, act["i1"] = F.max_pool2d(a1, 2, return_indices=True)
            act["r1"] = r1 = F.relu(p1)  # relu(maxpool(a)) == maxpool(relu(a)), on 4x fewer values
            act["a2"] = a2 = F.conv2d(r1, self.conv2_w, self.conv2_b, groups=R)
            p2, act["i2"] = F.max_pool2d(a2, 2, return_indices=True)
            act["r2"] = r2 = F.relu(p2)
        else:
            act["r1"] = r1 = F.relu(a1)
            act["r2"] = r2 = F.relu(F.conv2d(r1, self.conv2_w, self.conv2_b, stride=s, groups=R))
        act["f"] = (
            r2.reshape(B, R, -1, *r2.shape[2:]).transpose(0, 1).reshape(R, B, d.flat_features)
        )
        return act

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 1, 28, 28) -> (R, batch, n_classes), evaluation mode (no dropout)"""
        with torch.no_grad():
            h = self._features(x)["f"]
            for i, (w, b) in enumerate(zip(self.fc_w, self.fc_b)):
                h = torch.baddbmm(b, h, w)
                h = F.relu(h) if i < 2 else F.log_softmax(h, dim=-1)
            return h

    def sgd_step(self, x: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """One SGD step of every run on the batch x: (B, 1, 28, 28) with one-hot labels target:
        (B, n_classes); keep: (B, 320) is the dropout mask already divided by 1 - p.
        Returns the R batch-mean losses before the step."""
        with torch.no_grad():
            act = self._features(x)
            loss, g = self._classifier_step(act["f"], target, keep)
            self._features_step(act, g)
        return loss

    def _classifier_step(self, f, target, keep):
        """f: (R, B, 576) -> losses (R,), and the scaled gradient for f"""
        (w1, w2, w3), (b1, b2, b3) = self.fc_w, self.fc_b
        h1 = F.relu(torch.baddbmm(b1, f, w1))
        dropped = h1 * keep
        h2 = F.relu(torch.baddbmm(b2, dropped, w2))
        log_p = F.log_softmax(torch.baddbmm(b3, h2, w3), dim=-1)
        loss = -(log_p * target).sum(-1).mean(1)
        # d(mean NLL)/d(logits) = (softmax - one-hot) / B; multiplying it by the run's learning
        # rate makes every gradient below it lr * gradient, so each update is a plain subtraction
        B = f.shape[1]
        if B not in self._lr_over_batch:
            self._lr_over_batch[B] = self.lr / B
        g_logits = (log_p.exp_() - target).mul_(self._lr_over_batch[B])
        g_h2 = _linear_step(h2, w3, b3, g_logits)
        g_dropped = _linear_step(dropped, w2, b2, aten.threshold_backward(g_h2, h2, 0))
        return loss, _linear_step(f, w1, b1, aten.threshold_backward(g_dropped * keep, h1, 0))

    def _features_step(self, act: dict[str, torch.Tensor], g_f: torch.Tensor) -> None:
        """Backward through the convolutions from g_f: (R, B, 576), with their SGD updates."""
        d, R = self.dims, self.runs
        r1, r2 = act["r1"], act["r2"]
        B, n = r2.shape[0], r2.shape[-1]
        # channels-last like r2: elementwise kernels on mixed layouts are many times slower
        g = g_f.view(R, B, -1, n, n).permute(1, 3, 4, 0, 2).reshape(B, n, n, -1).permute(0, 3, 1, 2)
        g = aten.threshold_backward(g, r2, 0)
        if d.max_pool:
            g = aten.max_pool2d_with_indices_backward(g, act["a2"], *POOL, act["i2"])
        s = d.conv1_stride
        g, g_w, g_b = aten.convolution_backward(
            g,
            r1,
            self.conv2_w,
            [self.conv2_b.numel()],
            [s, s],
            [0, 0],
            [1, 1],
            False,
            [0, 0],
            R,
            [True, True, True],
        )
        self.conv2_w.sub_(g_w)
        self.conv2_b.sub_(g_b)
        g = aten.threshold_backward(g, r1, 0)
        if d.max_pool:
            g = aten.max_pool2d_with_indices_backward(g, act["a1"], *POOL, act["i1"])
        g = g.permute(0, 2, 3, 1).reshape(-1, self.conv1_w.shape[1])  # (B * n * n, R*8)
        self.conv1_w.addmm_(act["cols"].t(), g, alpha=-1.0)
        self.conv1_b.sub_(g.sum(0))


def _linear_step(
    inputs: torch.Tensor, w: torch.Tensor, b: torch.Tensor, g_out: torch.Tensor
) -> torch.Tensor:
    """Backward through out = inputs @ w + b for a learning-rate-scaled g_out, then the SGD update
    of w and b; returns the gradient for inputs (taken before the update)."""
    g_in = torch.bmm(g_out, w.mT)
    w.baddbmm_(inputs.mT, g_out, alpha=-1.0)
    b.sub_(g_out.sum(1, keepdim=True))
    return g_in
