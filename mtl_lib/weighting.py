"""Task weights learned from each task's uncertainty (Kendall, Gal & Cipolla 2018).

The summed loss L = L_sst + L_para + L_sts weights the three tasks by their losses' scales, which
have nothing to do with how much each task matters: the STS loss is a squared error on a 0..5
scale, the others are cross entropies (``mtl_lib.gradients`` measures what that does to the
encoder's gradient). Kendall et al. learn one log-variance s_t per task and minimise

    L = sum_t  exp(-s_t) L_t + s_t

(their Equations 7 and 10 up to constant factors). For a fixed L_t the best s_t is log L_t, so the
weight exp(-s_t) settles near 1 / L_t: every task's weighted loss near 1, whatever its scale. The
s_t term keeps the weights from all going to 0.

Here the model's gradient sees the weights as constants, and the gradient of the s_t is set
directly, 1 - exp(-s_t) L_t, so the same weights work with PCGrad's per-task backward passes.
"""

from __future__ import annotations

import torch


class UncertaintyWeights(torch.nn.Module):
    """One learned log-variance per task; ``weigh(losses)`` returns the weighted losses."""

    def __init__(self, tasks: list[str]):
        super().__init__()
        self.tasks = list(tasks)
        self.log_vars = torch.nn.Parameter(torch.zeros(len(self.tasks)))

    def weights(self) -> dict[str, float]:
        return {t: float(w) for t, w in zip(self.tasks, torch.exp(-self.log_vars.detach()))}

    def weigh(self, losses: dict[str, torch.Tensor], scale: float = 1.0) -> dict[str, torch.Tensor]:
        """Task -> exp(-s_t) L_t (s_t held constant), and set the s_t's gradient to ``scale`` x
        d/ds_t (exp(-s_t) L_t + s_t) = 1 - exp(-s_t) L_t (``scale``: a GradScaler's factor)."""
        s = self.log_vars.detach()
        values = torch.stack([losses[t].detach().float() for t in self.tasks])  # (T,)
        self.log_vars.grad = (1.0 - torch.exp(-s) * values) * scale
        return {t: torch.exp(-s[i]) * losses[t] for i, t in enumerate(self.tasks)}
