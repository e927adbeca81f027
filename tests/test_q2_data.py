"""Reading, checking and downloading octmnist.npz; the course's test subset."""

import numpy as np
import pytest

from compute.engine.step import DataError
from compute.q2 import data, fetch, steps


def arrays(n_test=1000, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", 40), ("val", 12), ("test", n_test)):
        out[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 4 if split == "test" else rng.integers(0, 4, n)
        out[f"{split}_labels"] = labels.astype(np.uint8)[:, None]
    return out


def write(tmp_path, a, name="octmnist.npz"):
    return data.save_arrays(a, tmp_path / name)


def test_a_good_file_loads_with_all_six_arrays(tmp_path):
    loaded = data.load_arrays(write(tmp_path, arrays()))
    assert loaded["test_images"].shape == (1000, 28, 28) and loaded["val_labels"].shape == (12, 1)
    assert data.describe(loaded)["test"] == {"images": 1000, "class_counts": [250, 250, 250, 250]}


@pytest.mark.parametrize(
    "break_it, problem",
    [
        (lambda a: a.pop("val_labels"), "missing array(s) val_labels"),
        (
            lambda a: a.update(train_images=a["train_images"].astype(np.float32)),
            "train_images has dtype float32",
        ),
        (
            lambda a: a.update(test_images=a["test_images"][:, :27]),
            "test_images has shape (1000, 27, 28)",
        ),
        (lambda a: a.update(val_labels=a["val_labels"][:, 0]), "val_labels has shape (12,)"),
        (lambda a: a.update(train_labels=a["train_labels"][:-1]), "train: 40 images but 39 labels"),
        (lambda a: a["test_labels"].__setitem__(3, 7), "test_labels holds 7"),
    ],
)
def test_a_broken_file_is_a_data_error_naming_file_problem_and_fix(tmp_path, break_it, problem):
    a = arrays()
    break_it(a)
    path = write(tmp_path, a)
    with pytest.raises(DataError) as error:
        data.load_arrays(path)
    message = str(error.value)
    assert str(path) in message and problem in message and "Fix: run `make data`" in message


def test_a_missing_or_unreadable_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        data.load_arrays(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip archive")
    with pytest.raises(DataError, match="junk.npz: not a .npz file .* 17 bytes of something else"):
        data.load_arrays(tmp_path / "junk.npz")


def test_course_test_subset_is_the_first_182_55_42_250_of_each_class():
    labels = (np.arange(1000) % 4).astype(np.uint8)[:, None]
    chosen = data.course_test_subset(labels)
    assert len(chosen) == 529
    assert np.bincount(labels[chosen, 0]).tolist() == [182, 55, 42, 250]
    assert chosen[labels[chosen, 0] == 1].max() == 4 * 54 + 1  # the 55th image of class 1
    with pytest.raises(DataError, match="the course's subset needs 250"):
        data.course_test_subset(labels[:800])


def test_pixels_are_divided_by_256_as_in_the_course():
    x, y = data.to_tensors(np.full((2, 28, 28), 128, np.uint8), np.array([[3], [1]], np.uint8))
    assert x.shape == (2, 1, 28, 28) and x[0, 0, 0, 0].item() == 0.5 and y.tolist() == [3, 1]


def test_a_download_with_the_wrong_checksum_leaves_nothing_behind(tmp_path, monkeypatch):
    def fake_fetch(folder):
        part = folder / "octmnist.npz.part"
        part.write_bytes(b"corrupted")
        return part

    monkeypatch.setattr(fetch, "_fetch_with_medmnist", lambda folder: None)
    monkeypatch.setattr(fetch, "_fetch_from_zenodo", fake_fetch)
    target = tmp_path / "data" / "octmnist.npz"
    with pytest.raises(DataError, match="expected c68d92d5b585d8d81f7112f81e2d0842"):
        fetch.download(target)
    assert list((tmp_path / "data").iterdir()) == []


def test_a_download_with_the_right_checksum_is_moved_into_place(tmp_path, monkeypatch):
    payload = b"stand-in for octmnist.npz"
    monkeypatch.setattr(fetch, "MD5", __import__("hashlib").md5(payload).hexdigest())

    def fake_fetch(folder):
        (folder / "x.part").write_bytes(payload)
        return folder / "x.part"

    monkeypatch.setattr(fetch, "_fetch_with_medmnist", lambda folder: None)
    monkeypatch.setattr(fetch, "_fetch_from_zenodo", fake_fetch)
    target = tmp_path / "octmnist.npz"
    assert fetch.download(target) == target and target.read_bytes() == payload
    assert [p.name for p in tmp_path.iterdir()] == ["octmnist.npz"]


def test_check_data_lists_splits_and_class_counts_and_flags_differences(tmp_path):
    path = write(tmp_path, arrays())
    lines = steps.check_data("homework", {"octmnist": path})
    assert lines[0] == str(path)
    assert "  test: 1,000 images (CNV 250, DME 250, drusen 250, normal 250)" in lines
    assert any(line.startswith("problem: MD5") for line in lines)
    assert "problem: train has 40 images, OCTMNIST has 97477" in lines


def test_check_data_on_a_broken_file_raises_a_data_error(tmp_path):
    a = arrays()
    a["val_labels"][0] = 9
    with pytest.raises(DataError, match="val_labels holds 9"):
        steps.check_data("homework", {"octmnist": write(tmp_path, a)})


def test_a_path_that_is_a_folder_means_the_file_inside_it(tmp_path, monkeypatch):
    monkeypatch.delenv("OCTMNIST_PATH", raising=False)
    assert fetch.locate(tmp_path) == tmp_path / "octmnist.npz"
    monkeypatch.setenv("OCTMNIST_PATH", str(tmp_path / "elsewhere.npz"))
    assert fetch.locate(None) == tmp_path / "elsewhere.npz"
