"""The project's OCTMNIST stand-in: format, determinism, class priors, worth learning but not
separable."""

import numpy as np
import pytest

from compute.engine.testing import fake_context
from compute.q2 import data, synthetic

SIZES = {"train": 400, "val": 40, "test": 1000}


@pytest.fixture(scope="module")
def generated():
    return synthetic.generate(SIZES, seed=42)


def test_generated_arrays_have_the_layout_of_octmnist_npz(generated):
    assert data.array_problems(generated) == []
    assert generated["train_images"].shape == (400, 28, 28) and generated["train_labels"].shape == (
        400,
        1,
    )
    assert all(a.dtype == np.uint8 for a in generated.values())


def test_same_seed_same_images_and_another_seed_other_images(generated):
    small = {"train": 20, "val": 0, "test": 0}
    again = synthetic.generate(small, seed=42)
    first = synthetic.generate(small, seed=42)
    other = synthetic.generate(small, seed=43)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["train_images"], other["train_images"])


def test_train_split_follows_octmnist_prior_and_test_split_is_balanced(generated):
    assert data.class_counts(generated["train_labels"]) == [
        137,
        42,
        32,
        189,
    ]  # 400 x the prior, rounded
    assert data.class_counts(generated["test_labels"]) == [250, 250, 250, 250]
    assert len(data.course_test_subset(generated["test_labels"])) == 529


def test_images_use_the_grey_range_without_saturating(generated):
    images = generated["train_images"]
    assert 30 < images.mean() < 90
    assert (images == 255).mean() < 0.01 and images.max() > 200


def test_classes_differ_but_a_nearest_mean_classifier_is_far_from_perfect(generated):
    """The lesions show in the class means, yet one template per class cannot separate them."""
    x = generated["train_images"].reshape(400, -1).astype(float)
    y = generated["train_labels"][:, 0]
    means = np.stack([x[y == c].mean(0) for c in range(4)])
    test_x = generated["test_images"].reshape(1000, -1).astype(float)
    predicted = ((test_x[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    accuracy = (predicted == generated["test_labels"][:, 0]).mean()
    assert 0.3 < accuracy < 0.75


def test_data_step_writes_a_loadable_file_and_nothing_else(tmp_path):
    ctx = fake_context(tmp_path, params={"sizes": {"train": 24, "val": 8, "test": 1000}}, seed=3)
    result = synthetic.run(ctx)
    loaded = data.load_arrays(ctx.out / result["file"])
    assert result["source"] == "synthetic" and result["md5"] == data.md5(ctx.out / "octmnist.npz")
    assert result["splits"]["val"] == {
        "images": 8,
        "class_counts": data.class_counts(loaded["val_labels"]),
    }
    assert sorted(p.name for p in ctx.out.iterdir()) == ["octmnist.npz"]
