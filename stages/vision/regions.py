"""Group superpixels of one geometric class into colour regions: the future objects.

Each region becomes one object (a ground patch, a wall, a billboard), so regions must be
few and each roughly one colour. Adjacent superpixels of the same class are merged
greedily, most similar first (Lab distance between region means, weighted by how small
the smaller one is so that specks join their neighbours), until no pair is close enough.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from stages.vision.superpixels import adjacency


@dataclass
class Region:
    id: int
    cls: int  # segment.SKY / VERTICAL / GROUND
    mask: np.ndarray  # (H, W) bool
    lab: np.ndarray  # mean Lab

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    def bbox(self) -> tuple[int, int, int, int]:
        """(row0, row1, col0, col1), inclusive-exclusive."""
        rows = np.flatnonzero(self.mask.any(1))
        cols = np.flatnonzero(self.mask.any(0))
        return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def merge_regions(superpixels: np.ndarray, labels: np.ndarray, lab: np.ndarray,
                  threshold: float = 11.0, min_area_frac: float = 0.004, max_regions: int = 40) -> list[Region]:
    """Merge same-class adjacent superpixels into colour regions (see module docstring)."""
    # split superpixels that straddle a class boundary so each unit has one class
    units = superpixels * 3 + labels
    _, units = np.unique(units.ravel(), return_inverse=True)
    units = units.reshape(labels.shape)
    n = int(units.max()) + 1
    flat = units.ravel()
    count = np.bincount(flat, minlength=n).astype(np.float64)
    sums = np.stack([np.bincount(flat, lab.reshape(-1, 3)[:, i], minlength=n) for i in range(3)], axis=1)
    cls = np.zeros(n, dtype=np.int64)
    cls[flat] = labels.ravel()
    min_area = min_area_frac * float(labels.size)
    neighbours: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in adjacency(units):
        if cls[a] == cls[b]:
            neighbours[a].add(b)
            neighbours[b].add(a)
    version = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)

    def dist(a: int, b: int) -> float:
        d = float(np.linalg.norm(sums[a] / count[a] - sums[b] / count[b]))
        return d * 0.3 if min(count[a], count[b]) < min_area else d  # specks join their closest neighbour

    heap = [(dist(a, b), a, b, 0, 0) for a in range(n) for b in neighbours[a] if a < b]
    heapq.heapify(heap)
    roots = n
    parent = np.arange(n)
    while heap:
        d, a, b, va, vb = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or version[a] != va or version[b] != vb:
            continue
        if d > threshold and roots <= max_regions:
            break
        # merge b into a
        parent[b] = a
        alive[b] = False
        sums[a] += sums[b]
        count[a] += count[b]
        version[a] += 1
        roots -= 1
        neighbours[a] |= neighbours.pop(b)
        neighbours[a] -= {a, b}
        for c in neighbours[a]:
            neighbours[c].discard(b)
            neighbours[c].add(a)
            lo, hi = (a, c) if a < c else (c, a)
            heapq.heappush(heap, (dist(a, c), lo, hi, version[lo], version[hi]))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    root = np.array([find(i) for i in range(n)])[units]
    regions = []
    for i, r in enumerate(sorted(np.unique(root), key=lambda r: (-count[r], r))):
        mask = root == r
        regions.append(Region(id=i, cls=int(cls[r]), mask=mask, lab=sums[r] / count[r]))
    return regions


def split_by_colour(mask: np.ndarray, srgb: np.ndarray, min_area: int, min_gain: float,
                    depth: int = 0, max_depth: int = 3) -> list[np.ndarray]:
    """Cut a region in two along a row or a column wherever that explains much of its colour
    variation, recursively: a road that fades into fog becomes depth bands, a forest wall
    becomes trunks and gaps, a facade its storeys. A cut is kept when it lowers the summed
    squared sRGB error by at least `min_gain` (in units of the whole image's MSE, so every
    cut is worth a measurable share of PSNR) and leaves both parts at least `min_area` px."""
    area = int(mask.sum())
    if depth >= max_depth or area < 2 * min_area:
        return [mask]
    total = mask.size
    best_gain, best_cut = 0.0, None
    for axis in (0, 1):  # 0: cut between rows, 1: between columns
        m = mask if axis == 0 else mask.T
        v = srgb if axis == 0 else srgb.transpose(1, 0, 2)
        n = m.sum(1).astype(np.float64)
        s = (v * m[..., None]).sum(1)
        q = ((v**2).sum(-1) * m).sum(1)
        cn, cs, cq = np.cumsum(n), np.cumsum(s, axis=0), np.cumsum(q)
        tn, ts, tq = cn[-1], cs[-1], cq[-1]
        sse_all = tq - (ts**2).sum() / max(tn, 1)
        ln, rn = cn[:-1], tn - cn[:-1]
        ok = (ln >= min_area) & (rn >= min_area)
        if not ok.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            sse = (cq[:-1] - (cs[:-1] ** 2).sum(1) / ln) + (tq - cq[:-1] - ((ts - cs[:-1]) ** 2).sum(1) / rn)
        gain = np.where(ok, sse_all - sse, -np.inf)
        k = int(np.argmax(gain))
        if gain[k] > best_gain:
            best_gain, best_cut = float(gain[k]), (axis, k + 1)
    if best_cut is None or best_gain / total < min_gain:
        return [mask]
    axis, k = best_cut
    first = mask.copy()
    second = mask.copy()
    if axis == 0:
        first[k:] = False
        second[:k] = False
    else:
        first[:, k:] = False
        second[:, :k] = False
    return (split_by_colour(first, srgb, min_area, min_gain, depth + 1, max_depth)
            + split_by_colour(second, srgb, min_area, min_gain, depth + 1, max_depth))


def cover_rectangles(mask: np.ndarray, min_fill: float = 0.7, min_area: int = 24, depth: int = 0) -> list[np.ndarray]:
    """Split a region into pieces that each fill most of their bounding box, cutting across
    the longer side where the two halves fill their boxes best: an irregular region (a
    skyline, a room's back wall with things in front) becomes a few upright boxes instead
    of one box that paints over its neighbours."""
    rows = np.flatnonzero(mask.any(1))
    cols = np.flatnonzero(mask.any(0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    area = int(mask.sum())
    if area / ((r1 - r0) * (c1 - c0)) >= min_fill or area < 2 * min_area or depth >= 4:
        return [mask]
    sub = mask[r0:r1, c0:c1]
    best, cut = -1.0, None
    for axis in (1, 0):  # columns first: upright things vary in height across the image
        m = sub if axis == 1 else sub.T
        n = m.shape[1]
        count = m.sum(0)
        present = count > 0
        top = np.where(present, m.argmax(0), m.shape[0])
        bottom = np.where(present, m.shape[0] - 1 - m[::-1].argmax(0), -1)
        for k in range(1, n):
            score = 0.0
            for sl in (slice(0, k), slice(k, n)):
                a = count[sl].sum()
                if a < min_area:
                    score = -1.0
                    break
                live = np.flatnonzero(present[sl])
                bb = (live[-1] - live[0] + 1) * (bottom[sl].max() - top[sl].min() + 1)
                score += a / bb * a / area
            if score > best + 1e-9:
                best, cut = score, (axis, k)
    if cut is None or best <= area / ((r1 - r0) * (c1 - c0)) + 0.05:
        return [mask]
    axis, k = cut
    first = np.zeros_like(mask)
    second = np.zeros_like(mask)
    if axis == 1:
        first[r0:r1, c0:c0 + k] = sub[:, :k]
        second[r0:r1, c0 + k:c1] = sub[:, k:]
    else:
        first[r0:r0 + k, c0:c1] = sub[:k]
        second[r0 + k:r1, c0:c1] = sub[k:]
    return (cover_rectangles(first, min_fill, min_area, depth + 1)
            + cover_rectangles(second, min_fill, min_area, depth + 1))
