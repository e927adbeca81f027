"""The side-by-side runs of compute/q2/fused.py do what separate plain-PyTorch SGD runs do."""

import pytest
import torch
import torch.nn.functional as F

from compute.q2.fused import FusedCNN
from compute.q2.models import cnn_maxpool, cnn_strided


class GivenMask(torch.nn.Module):
    """Dropout with a mask chosen from outside, so a plain run can use the fused run's masks."""

    def __init__(self):
        super().__init__()
        self.keep = None

    def forward(self, x):
        return x * self.keep


@pytest.mark.parametrize("make", [cnn_maxpool, cnn_strided])
def test_fused_runs_equal_separate_sgd_runs_with_their_own_learning_rates(make):
    torch.manual_seed(0)
    models = [make() for _ in range(3)]  # different initial weights: the runs must not mix
    lrs = [0.1, 0.01, 0.001]
    fused = FusedCNN(models, lrs)
    optimizers = [torch.optim.SGD(m.parameters(), lr=lr) for m, lr in zip(models, lrs)]
    for m in models:
        m.classifier.dropout = GivenMask()
    for step in range(4):
        batch = 8 if step < 3 else 5  # a short last batch as at the end of an epoch
        x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 4, (batch,))
        keep = torch.empty(batch, 320).bernoulli_(0.3).div_(0.3)
        fused_loss = fused.sgd_step(x, F.one_hot(y, 4).float(), keep)
        for r, (m, opt) in enumerate(zip(models, optimizers)):
            m.classifier.dropout.keep = keep
            opt.zero_grad()
            loss = F.nll_loss(m(x), y)
            loss.backward()
            opt.step()
            assert fused_loss[r].item() == pytest.approx(loss.item(), rel=1e-5)
    for trained, plain in zip(fused.to_models(), models):
        for (name, a), b in zip(trained.named_parameters(), plain.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    # the step moved the weights: equality above is not equality with the start
    assert not torch.allclose(fused.fc_w[0][0], make().classifier.fc1.weight.t())


@pytest.mark.parametrize("make", [cnn_maxpool, cnn_strided])
def test_fused_log_probs_equal_each_model_in_evaluation_mode(make):
    torch.manual_seed(1)
    models = [make().eval() for _ in range(2)]
    fused = FusedCNN(models, [0.1, 0.01])
    x = torch.rand(7, 1, 28, 28)
    out = fused.log_probs(x)
    for r, m in enumerate(models):
        torch.testing.assert_close(out[r], m(x), rtol=1e-5, atol=1e-5)


def test_unpacked_models_carry_exactly_the_packed_weights():
    torch.manual_seed(2)
    models = [cnn_maxpool() for _ in range(3)]
    for a, b in zip(FusedCNN(models, [1.0, 1.0, 1.0]).to_models(), models):
        for p, q in zip(a.parameters(), b.parameters()):
            assert torch.equal(p, q)
