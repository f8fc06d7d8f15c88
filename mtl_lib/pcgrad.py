"""PCGrad: gradient surgery for multi-task learning (Yu et al. 2020).

When two tasks' gradients point against each other (g_i . g_j < 0), a step
that helps one hurts the other. PCGrad removes the conflicting part: each
task's gradient is projected onto the normal plane of every OTHER task's
ORIGINAL gradient it conflicts with, the others visited in a fresh random
order, and the update is the sum of the projected gradients (Equation 3)::

    g_i  <-  g_i - (g_i . g_j) / ||g_j||^2 * g_j      if g_i . g_j < 0

Only the SHARED parameters (the encoder) take part; each head only ever
sees its own task's gradient.

Efficiency: every projected gradient is a combination of the original ones,
g_i' = sum_k C[i, k] g_k, so all the dot products the projections need come
from the small T x T Gram matrix G G^T. The only passes over the long
vectors are computing the Gram matrix and the final ``C.sum(0) @ G``; the
decisions stay on the device (no ``if`` on a GPU number, so no sync).
"""

from __future__ import annotations

import torch


def project_conflicting(grads: list[torch.Tensor], generator: torch.Generator | None = None,
                        return_stats: bool = False):
    """Project each flat task gradient away from the others it conflicts with.

    grads: T vectors of the same shape. Returns the T projected vectors (and,
    with ``return_stats``, a dict with the pairwise ``cosine`` (T, T) matrix and
    the ``projected`` fraction of ordered pairs that were projected).
    """
    G = torch.stack([g.reshape(-1) for g in grads])  # (T, P)
    gram = G @ G.T  # (T, T): the only pass over the long vectors besides the final combination
    coef = combination_coefficients(gram, generator)
    projected = list((coef.to(G.dtype) @ G).reshape(len(grads), *grads[0].shape))
    return (projected, conflict_stats(gram, coef)) if return_stats else projected


def combination_coefficients(gram: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """C with g_i' = sum_k C[i, k] g_k, computed from the Gram matrix alone."""
    ### BEGIN SOLUTION
    ### HINT: start from C = identity (float64); for each i, visit j in torch.randperm(T,
    ### HINT: generator=generator) order, skip j == i; g_i' . g_j = C[i] @ gram[:, j]; if it is
    ### HINT: negative, subtract it / gram[j, j] from C[i, j].
    T = gram.size(0)
    gram = gram.double()  # the small matrix in float64: exact decisions at no cost
    coef = torch.eye(T, dtype=gram.dtype, device=gram.device)
    squared_norms = gram.diagonal().clamp(min=1e-20)
    for i in range(T):
        for j in torch.randperm(T, generator=generator).tolist():  # a fresh random order for each i
            if j == i:
                continue
            dot = coef[i] @ gram[:, j]  # g_i' . g_j, from the Gram matrix
            coef[i, j] = coef[i, j] - torch.clamp(dot, max=0.0) / squared_norms[j]  # only if dot < 0
    return coef
    ### END SOLUTION


def conflict_stats(gram: torch.Tensor, coef: torch.Tensor) -> dict:
    """Pairwise cosines of the original gradients; the share of ordered pairs projected."""
    norms = gram.diagonal().clamp(min=1e-20).sqrt()
    cosine = gram / (norms[:, None] * norms[None, :])
    off_diagonal = ~torch.eye(gram.size(0), dtype=torch.bool, device=gram.device)
    projected = (coef.abs() > 0) & off_diagonal
    return {"cosine": cosine, "projected": projected.float().sum() / off_diagonal.sum()}


def pcgrad_sum(grads: list[torch.Tensor] | torch.Tensor, generator: torch.Generator | None = None):
    """The PCGrad update (the sum of the projected gradients) and the conflict statistics.

    ``grads``: T vectors, or one (T, P) tensor of flat gradients (used as is: no copy).
    """
    G = grads if torch.is_tensor(grads) else torch.stack([g.reshape(-1) for g in grads])  # (T, P)
    gram = G @ G.T
    coef = combination_coefficients(gram, generator)
    update = coef.sum(0).to(G.dtype) @ G  # sum_i g_i' in one pass, (P,)
    return update.reshape(grads[0].shape), conflict_stats(gram, coef)


def reference_project_conflicting(grads: list[torch.Tensor], orders: list[list[int]]) -> list[torch.Tensor]:
    """The slow, literal algorithm on full vectors (for tests): ``orders[i]`` = visiting order for i."""
    out = []
    for i, g in enumerate(grads):
        g_i = g.clone().double()
        for j in orders[i]:
            if j != i and g_i @ grads[j].double() < 0:
                g_i = g_i - (g_i @ grads[j].double()) / (grads[j].double() @ grads[j].double()) * grads[j].double()
        out.append(g_i.to(g.dtype))
    return out
