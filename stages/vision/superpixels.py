"""SLIC superpixels (Achanta et al. 2012) in plain numpy, plus region adjacency.

Hoiem et al. reason over superpixels, not pixels: a superpixel follows colour edges,
so the labels and the objects cut from them keep the photo's boundaries, while being
few enough (a few hundred) to reason about. Deterministic: seeds lie on a grid.
"""
from __future__ import annotations

import numpy as np


def slic(lab: np.ndarray, spacing: int = 6, compactness: float = 12.0, iterations: int = 6) -> np.ndarray:
    """Label map (H, W) of compact colour-coherent superpixels, labels 0..n-1 (relabelled)."""
    h, w = lab.shape[:2]
    gy = np.arange(spacing / 2, h, spacing)
    gx = np.arange(spacing / 2, w, spacing)
    ny, nx = len(gy), len(gx)
    cy, cx = np.meshgrid(gy, gx, indexing="ij")
    centres = np.concatenate([lab[cy.astype(int), cx.astype(int)], cy[..., None], cx[..., None]], axis=-1).reshape(-1, 5)
    rows, cols = np.mgrid[0:h, 0:w]
    # each pixel only competes for the 3x3 grid cells around its own cell
    cell_y = np.clip((rows / spacing).astype(int), 0, ny - 1)
    cell_x = np.clip((cols / spacing).astype(int), 0, nx - 1)
    m = (compactness / spacing) ** 2
    labels = np.zeros((h, w), dtype=np.int64)
    for _ in range(iterations):
        best = np.full((h, w), np.inf)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                k = np.clip(cell_y + dy, 0, ny - 1) * nx + np.clip(cell_x + dx, 0, nx - 1)
                c = centres[k]
                d = ((lab - c[..., :3]) ** 2).sum(-1) + m * ((rows - c[..., 3]) ** 2 + (cols - c[..., 4]) ** 2)
                better = d < best
                best = np.where(better, d, best)
                labels = np.where(better, k, labels)
        feats = np.concatenate([lab, rows[..., None], cols[..., None]], axis=-1).reshape(-1, 5)
        flat = labels.ravel()
        counts = np.bincount(flat, minlength=len(centres))
        sums = np.stack([np.bincount(flat, feats[:, i], minlength=len(centres)) for i in range(5)], axis=1)
        keep = counts > 0
        centres[keep] = sums[keep] / counts[keep, None]
    return relabel(labels)


def relabel(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..n-1 in order of first appearance (row-major): stable ids."""
    _, first, inverse = np.unique(labels.ravel(), return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].reshape(labels.shape)


def adjacency(labels: np.ndarray) -> set[tuple[int, int]]:
    """Pairs (a, b), a < b, of labels that touch horizontally or vertically."""
    pairs = set()
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        diff = a != b
        lo = np.minimum(a[diff], b[diff])
        hi = np.maximum(a[diff], b[diff])
        pairs.update(zip(lo.tolist(), hi.tolist()))
    return pairs


def region_means(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean of `values` (H, W) or (H, W, C) over each label: (n,) or (n, C)."""
    n = int(labels.max()) + 1
    flat = labels.ravel()
    counts = np.maximum(np.bincount(flat, minlength=n), 1)
    if values.ndim == 2:
        return np.bincount(flat, values.ravel(), minlength=n) / counts
    v = values.reshape(-1, values.shape[-1])
    return np.stack([np.bincount(flat, v[:, i], minlength=n) / counts for i in range(v.shape[1])], axis=1)


def connected_components(mask: np.ndarray) -> np.ndarray:
    """4-connected components of a boolean mask: labels >= 0 inside, -1 outside.
    Union-find over runs, vectorised enough for the analysis grid."""
    h, w = mask.shape
    parent = np.arange(h * w)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    idx = np.arange(h * w).reshape(h, w)
    for a, b in ((idx[:, :-1][mask[:, :-1] & mask[:, 1:]], idx[:, 1:][mask[:, :-1] & mask[:, 1:]]),
                 (idx[:-1, :][mask[:-1, :] & mask[1:, :]], idx[1:, :][mask[:-1, :] & mask[1:, :]])):
        for i, j in zip(a.tolist(), b.tolist()):
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([find(i) for i in range(h * w)]).reshape(h, w)
    out = np.full((h, w), -1, dtype=np.int64)
    if mask.any():
        out[mask] = relabel(roots[mask][None, :])[0]
    return out
