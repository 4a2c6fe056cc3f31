"""Improved precision and recall of generative models (Kynkaenniemi et al., NeurIPS 2019), on features.

Each set's manifold is the union of balls around its points, of radius the distance to the point's k-th nearest
neighbour in the same set (k=4 in the paper). precision = share of generated points inside the real manifold
(fidelity); recall = share of real points inside the generated manifold (coverage).
"""

from __future__ import annotations

import numpy as np
import torch


def pairwise_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances, a: (M, D), b: (N, D) -> (M, N), via |a|^2 + |b|^2 - 2 a.b (callers pass float64)."""
    sq = (a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2.0 * a @ b.T
    return sq.clamp_min(0.0).sqrt()


def knn_radii(points: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """(N, D) -> (N,), distance of each point to its k-th nearest neighbour among the others."""
    if len(points) <= k:
        raise ValueError(f"need more than k={k} points for k-NN radii, got {len(points)}")
    radii = [pairwise_distances(points[i:i + batch_size], points).kthvalue(k + 1, dim=1).values  # +1: itself
             for i in range(0, len(points), batch_size)]
    return torch.cat(radii)


def coverage(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, batch_size: int) -> float:
    """Share of ``queries`` (M, D) inside at least one ball (centres (N, D), radii (N,))."""
    inside = [(pairwise_distances(queries[i:i + batch_size], centres) <= radii).any(dim=1)
              for i in range(0, len(queries), batch_size)]
    return int(torch.cat(inside).sum()) / len(queries)


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 4, batch_size: int = 1000) -> tuple[float, float]:
    """real: (N, D), fake: (M, D) features -> (precision, recall), each in [0, 1]."""
    r = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    f = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    precision = coverage(f, r, knn_radii(r, k, batch_size), batch_size)
    recall = coverage(r, f, knn_radii(f, k, batch_size), batch_size)
    return precision, recall
