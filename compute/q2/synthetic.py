"""The project's own OCTMNIST stand-in: 28x28 retinal OCT-like B-scans of the four classes.

Each image is a curved retina drawn as horizontal bands (bright nerve-fibre layer, dark nuclear
layers, bright photoreceptor line and RPE, a fading choroid) under speckle. The classes differ
as in real scans: CNV lifts the RPE over a grey mass, DME thickens the retina around dark fluid
pockets, drusen are small bumps along the RPE, a normal retina has a foveal pit and none of
these. Lesion severity runs down to invisible and anatomy, noise and contrast vary, so the
classification is learnable but not separable. Deterministic from the seed; arrays as in
`octmnist.npz`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compute.q2.data import (
    CLASSES,
    FILE_NAME,
    IMAGE_SIZE,
    SPLITS,
    TRAIN_PRIOR,
    describe,
    md5,
    save_arrays,
)

CNV, DME, DRUSEN, NORMAL = range(4)
RENDER = 2 * IMAGE_SIZE  # drawn at twice the size, then averaged 2x2
CHUNK = 500
# retinal bands, (top, bottom, brightness), in fractions of the surface-to-RPE depth
BANDS = (
    (0.00, 0.13, 0.80),
    (0.13, 0.36, 0.50),
    (0.36, 0.50, 0.22),
    (0.50, 0.58, 0.45),
    (0.58, 0.85, 0.13),
    (0.85, 0.91, 0.60),
)
CYSTS, DRUSEN_MAX = 5, 6


def split_labels(rng: np.random.Generator, n: int, balanced: bool) -> np.ndarray:
    """n labels with OCTMNIST's training prior (or balanced, as its test split), shuffled."""
    prior = np.full(len(CLASSES), 1 / len(CLASSES)) if balanced else np.asarray(TRAIN_PRIOR)
    counts = np.floor(prior * n).astype(int)
    counts[np.argsort(counts - prior * n)[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(np.arange(len(CLASSES)), counts)).astype(np.uint8)


def _uniform(rng: np.random.Generator, n: int, lo: float, hi: float, *k: int) -> np.ndarray:
    return rng.uniform(lo, hi, (n, *k)).astype(np.float32)


def _col(v) -> np.ndarray:
    """Per-image values (N,) as (N, 1, 1), to broadcast over an image."""
    return np.asarray(v, np.float32).reshape(-1, 1, 1)


def _bumps(x: np.ndarray, centre: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Sum of Gaussian bumps along x: params (N, K) -> (N, 1, W)."""
    z = (x[None, None, :] - centre[..., None]) / width[..., None]
    return (height[..., None] * np.exp(-z * z)).sum(1)[:, None, :]


def _step(z: np.ndarray, edge: float) -> np.ndarray:
    """A smooth step from 0 to 1 around z = 0 over about `edge` (one render pixel is 0.018)."""
    return 0.5 * (1 + np.tanh(z / edge))


def render(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """labels: (N,) -> uint8 images (N, 28, 28)."""
    retina = _retina(rng, labels)
    image = _draw(rng, labels, retina)
    return _acquire(rng, image)


def _retina(rng: np.random.Generator, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The layer lines of each image, (N, 1, W) in image heights: Bruch's membrane, the RPE
    (lifted by CNV and drusen), the inner surface (with a foveal pit, and raised by DME)."""
    n, x = len(labels), np.linspace(0, 1, RENDER, dtype=np.float32)
    U = lambda lo, hi, *k: _uniform(rng, n, lo, hi, *k)  # noqa: E731
    is_ = lambda c: (labels == c).astype(np.float32)  # noqa: E731
    # lesion severity: mostly clear, some faint, about one in ten too faint to see
    severity = np.where(rng.random(n) < 0.1, U(0.0, 0.15), U(0.3, 1.0))
    centre = U(0.3, 0.7)
    bruch = (
        _col(U(0.5, 0.72))
        - _col(U(-0.3, 1.2)) * (x - _col(centre)) ** 2
        + _col(U(-0.3, 0.3)) * (x - 0.5)
    )
    thickness = _col(U(0.22, 0.32))
    pit = _bumps(
        x,
        centre[:, None] + U(-0.08, 0.08, 1),
        U(0.05, 0.1, 1),
        U(0.0, 0.4, 1) * (1 - is_(DME))[:, None],
    )
    lift = _bumps(
        x, U(0.3, 0.7, 1), U(0.08, 0.18, 1), (is_(CNV) * severity)[:, None] * U(0.1, 0.28, 1)
    )
    drusen_on = (rng.random((n, DRUSEN_MAX)) < np.linspace(1, 0.5, DRUSEN_MAX)) * is_(DRUSEN)[
        :, None
    ]
    lift += _bumps(
        x,
        U(0.1, 0.9, DRUSEN_MAX),
        U(0.025, 0.05, DRUSEN_MAX),
        U(0.035, 0.08, DRUSEN_MAX) * drusen_on * severity[:, None],
    )
    # rare tiny irregularities in any eye, so that a single bump is no proof of drusen
    lift += _bumps(x, U(0, 1, 3), U(0.01, 0.03, 3), U(0, 0.012, 3) * (rng.random((n, 3)) < 0.2))
    cyst_x = U(0.2, 0.8, CYSTS)
    swell = _bumps(
        x,
        cyst_x.mean(1, keepdims=True),
        U(0.15, 0.3, 1),
        (is_(DME) * severity)[:, None] * U(0.3, 0.8, 1),
    )
    rpe = bruch - lift
    return {
        "bruch": bruch,
        "rpe": rpe,
        "surface": rpe - thickness * (1 + swell - pit),
        "lift": lift,
        "severity": severity,
        "cyst_x": cyst_x,
    }


def _draw(
    rng: np.random.Generator, labels: np.ndarray, retina: dict[str, np.ndarray]
) -> np.ndarray:
    """Reflectivity (N, H, W): the retinal bands, RPE, choroid, lesion filling and fluid pockets."""
    n, s = len(labels), RENDER
    U = lambda lo, hi, *k: _uniform(rng, n, lo, hi, *k)  # noqa: E731
    x = np.linspace(0, 1, s, dtype=np.float32)
    y = x[None, :, None]
    bruch, rpe, surface, lift = retina["bruch"], retina["rpe"], retina["surface"], retina["lift"]
    depth = (y - surface) / (rpe - surface)  # 0 at the surface, 1 on the RPE
    image = np.full((n, s, s), 0.03, np.float32)
    for top, bottom, level in BANDS:
        image += (level - 0.03) * _step(depth - top, 0.03) * _step(bottom - depth, 0.03)
    image += 0.95 * _step(y - rpe, 0.01) * _step(rpe + _col(U(0.03, 0.05)) - y, 0.01)
    below = np.maximum(y - bruch - 0.04, 0)
    image += 0.4 * _step(y - bruch - 0.04, 0.01) * np.exp(-below / _col(U(0.08, 0.25)))
    # what fills a lifted RPE: grey, uneven material
    filling = _step(y - rpe - 0.04, 0.01) * _step(bruch - y, 0.01) * _step(lift - 0.01, 0.005)
    image += filling * _col(U(0.2, 0.5)) * rng.uniform(0.4, 1.6, (n, s, s)).astype(np.float32)
    # DME: dark, round pockets of fluid in the nuclear layers
    cyst_on = (rng.random((n, CYSTS)) < np.linspace(1, 0.3, CYSTS)) * (labels == DME)[:, None]
    radius = U(0.04, 0.09, CYSTS) * (0.3 + 0.7 * retina["severity"][:, None])
    cyst_depth = U(0.35, 0.8, CYSTS)
    for j in range(CYSTS):
        cy = surface + _col(cyst_depth[:, j]) * (rpe - surface)
        r = _col(radius[:, j])
        d2 = ((x - _col(retina["cyst_x"][:, j])) / r) ** 2 + ((y - cy) / (0.8 * r)) ** 2
        image *= 1 - 0.95 * _col(cyst_on[:, j]) * np.exp(-d2 * d2)
    return image


def _acquire(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """What the scanner adds: contrast, blur, speckle, noise; then 2x2 averaging to 28x28 uint8."""
    n = len(image)
    image = image * _col(_uniform(rng, n, 0.7, 1.3)) + _col(_uniform(rng, n, -0.03, 0.06))
    image = _blur(image, float(rng.uniform(0.6, 1.2)))
    image *= rng.gamma(4.0, 0.25, image.shape).astype(np.float32)
    image += rng.normal(0, 0.03, image.shape).astype(np.float32)
    image = image.reshape(n, IMAGE_SIZE, 2, IMAGE_SIZE, 2).mean((2, 4))
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of (N, H, W) images, edges repeated."""
    r = np.arange(-3, 4)
    kernel = np.exp(-0.5 * (r / sigma) ** 2)
    kernel /= kernel.sum()
    h, w = images.shape[1:]
    padded = np.pad(images, ((0, 0), (3, 3), (3, 3)), mode="edge")
    rows = sum(k * padded[:, 3 + i : 3 + i + h, :] for i, k in zip(r, kernel))
    return sum(k * rows[:, :, 3 + i : 3 + i + w] for i, k in zip(r, kernel)).astype(np.float32)


def generate(sizes: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """{split}_images (N, 28, 28) uint8 and {split}_labels (N, 1) uint8, as in octmnist.npz;
    train and validation follow OCTMNIST's training prior, test is balanced like OCTMNIST's."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split in SPLITS:
        labels = split_labels(rng, sizes[split], balanced=(split == "test"))
        chunks = [render(rng, labels[i : i + CHUNK]) for i in range(0, len(labels), CHUNK)]
        arrays[f"{split}_images"] = (
            np.concatenate(chunks) if chunks else np.zeros((0, 28, 28), np.uint8)
        )
        arrays[f"{split}_labels"] = labels[:, None]
    return arrays


def run(ctx) -> dict:
    """The q2.data step of the offline profiles: generates the data set, writes it as
    octmnist.npz."""
    arrays = generate(ctx.params["sizes"], ctx.seed)
    path = save_arrays(arrays, Path(ctx.out) / FILE_NAME)
    return {
        "source": "synthetic",
        "file": FILE_NAME,
        "md5": md5(path),
        "splits": describe(arrays),
        "classes": list(CLASSES),
        "generator": {"sizes": ctx.params["sizes"], "seed": ctx.seed},
    }
