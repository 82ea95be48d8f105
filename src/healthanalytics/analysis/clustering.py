"""k-means and its diagnostics in numpy, for the city segmentation on the driver (a compact
table: one row per city).

scikit-learn is not a dependency of the project, so the three pieces the segmentation needs are
written here from their definitions, each a screen long and deterministic for a given input
order and seed:

- `kmeans`: Lloyd's algorithm from k-means++ seeds (Arthur D. & Vassilvitskii S. 2007,
  "k-means++: the advantages of careful seeding", SODA), best of `n_init` starts by inertia;
  an emptied cluster is re-seeded at the point farthest from its centre (as scikit-learn does);
- `silhouettes`: the mean silhouette coefficient (Rousseeuw P.J. 1987, J. Comput. Appl. Math.
  20:53-65), Euclidean, a point alone in its cluster scoring 0 (scikit-learn's convention);
- `adjusted_rand`: the adjusted Rand index (Hubert L. & Arabie P. 1985, J. Classification
  2:193-218), 1 for identical partitions whatever their labels, about 0 for chance agreement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ITER = 300
TOL = 1e-4  # total squared centre shift under which the iterations stop (scikit-learn's default
# tol x the mean feature variance, which is 1 once scaled)
CHUNK = 512  # rows of the silhouette's distance matrix computed at a time (bounded memory)


@dataclass(frozen=True)
class Fit:
    """One k-means fit: a label 0..k-1 per row, the centres (k x features) and the inertia
    (sum of squared distances of the rows to their centres)."""

    labels: np.ndarray
    centres: np.ndarray
    inertia: float


def standard_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x - mean) / std per column, with the means and stds (population std; a constant
    column is divided by 1, as scikit-learn's StandardScaler does)."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (x - mean) / std, mean, std


def _squared_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """rows x centres squared Euclidean distances, summed feature by feature (exact, and far
    faster than numpy's reduction over a short last axis)."""
    out = np.zeros((len(x), len(centres)))
    for f in range(x.shape[1]):
        out += (x[:, f, None] - centres[None, :, f]) ** 2
    return out


def _plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds: the first uniform, each next drawn with probability proportional to
    its squared distance to the nearest seed so far (uniform when all are 0)."""
    n = len(x)
    centres = [x[rng.integers(n)]]
    nearest = _squared_distances(x, np.asarray(centres))[:, 0]
    for _ in range(1, k):
        total = nearest.sum()
        pick = rng.integers(n) if total <= 0 else rng.choice(n, p=nearest / total)
        centres.append(x[pick])
        nearest = np.minimum(nearest, _squared_distances(x, x[pick, None])[:, 0])
    return np.asarray(centres, dtype=float)


def _lloyd(x: np.ndarray, centres: np.ndarray) -> Fit:
    """Lloyd's iterations until no row changes its cluster (or the centres move less than
    TOL, or MAX_ITER)."""
    k = len(centres)
    labels = np.full(len(x), -1)
    for _ in range(MAX_ITER):
        distances = _squared_distances(x, centres)
        assigned = distances.argmin(axis=1)
        if np.array_equal(assigned, labels):
            break
        labels = assigned
        counts = np.bincount(labels, minlength=k)
        moved = centres.copy()
        for j in np.flatnonzero(counts):
            moved[j] = x[labels == j].mean(axis=0)
        if counts.min() == 0:  # an emptied cluster: re-seeded at the farthest rows
            far = np.argsort(-distances.min(axis=1), kind="stable")
            for j, row in zip(np.flatnonzero(counts == 0), far, strict=False):
                moved[j] = x[row]
            labels = np.full(len(x), -1)  # not converged: assign again
        shift = float(((moved - centres) ** 2).sum())
        centres = moved
        if shift <= TOL and labels[0] != -1:
            break
    distances = _squared_distances(x, centres)
    return Fit(distances.argmin(axis=1), centres, float(distances.min(axis=1).sum()))


def kmeans(x: np.ndarray, k: int, seed: int, n_init: int) -> Fit:
    """The best of `n_init` k-means runs (lowest inertia; the first at a tie) from k-means++
    seeds drawn with numpy's PCG64 generator seeded `seed`. `x` is rows x features, scaled;
    1 <= k <= rows."""
    rng = np.random.default_rng(seed)
    best: Fit | None = None
    for _ in range(n_init):
        fit = _lloyd(x, _plus_plus(x, k, rng))
        if best is None or fit.inertia < best.inertia:
            best = fit
    assert best is not None
    return best


def silhouettes(x: np.ndarray, labelings: dict[int, np.ndarray]) -> dict[int, float]:
    """The mean silhouette coefficient of each labeling of the rows of `x` (key -> labels
    0..k-1), Euclidean. The distances are computed once, CHUNK rows at a time, and shared by
    every labeling. A row alone in its cluster scores 0; a labeling with one cluster, 0."""
    n = len(x)
    sums = {key: 0.0 for key in labelings}
    hots = {key: np.eye(labels.max() + 1)[labels] for key, labels in labelings.items()}
    sizes = {key: hot.sum(axis=0) for key, hot in hots.items()}
    for start in range(0, n, CHUNK):
        block = x[start : start + CHUNK]
        squared = np.zeros((len(block), n))
        for f in range(x.shape[1]):  # feature by feature: exact, and bounded memory
            squared += (block[:, f, None] - x[None, :, f]) ** 2
        d = np.sqrt(squared)
        for key, labels in labelings.items():
            size = sizes[key]
            if (size > 0).sum() < 2:
                continue
            totals = d @ hots[key]  # distance of each block row to each cluster, summed
            own = labels[start : start + CHUNK]
            rows = np.arange(len(block))
            own_size = size[own]
            a = np.where(own_size > 1, totals[rows, own] / np.maximum(own_size - 1, 1), 0.0)
            means = np.where(size > 0, totals / np.where(size > 0, size, 1), np.inf)
            means[rows, own] = np.inf
            b = means.min(axis=1)
            s = np.where(own_size > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-300), 0.0)
            sums[key] += float(s.sum())
    return {key: total / n if n else 0.0 for key, total in sums.items()}


def adjusted_rand(a: np.ndarray, b: np.ndarray) -> float:
    """The adjusted Rand index of two labelings of the same rows (1: the same partition)."""
    _, left = np.unique(a, return_inverse=True)
    _, right = np.unique(b, return_inverse=True)
    table = np.zeros((left.max() + 1, right.max() + 1), dtype=np.int64)
    np.add.at(table, (left, right), 1)

    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1) // 2).sum())

    index = pairs(table)
    rows, cols = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    total = pairs(np.asarray([len(a)]))
    expected = rows * cols / total if total else 0.0
    maximum = (rows + cols) / 2
    if maximum == expected:  # both trivial (one cluster, or every row alone): identical
        return 1.0
    return (index - expected) / (maximum - expected)
