"""The two classifiers of the frozen-feature probe, fitted on train-file features, applied to test files.

Neither has a knob that is chosen per run: the L2 strength and k are constants, set before any result was seen,
so no row can be favoured by tuning the evaluation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LINEAR_WEIGHT_DECAY = 1e-3
"""L2 penalty on the weights of the logistic regression, on standardised features (mean of squared weights)."""

LINEAR_MAX_ITER = 500
"""L-BFGS iterations: the convex problem converges well before this on a few thousand features."""

KNN_K = 10
"""Neighbours that vote in the k-NN, weighted by exp(cosine similarity / KNN_TEMPERATURE)."""

KNN_TEMPERATURE = 0.07


def _standardise(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero mean, unit variance per dimension, with the train files' statistics."""
    mean = train.mean(dim=0, keepdim=True)
    std = train.std(dim=0, keepdim=True).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def linear_probe_predict(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    num_classes: int,
    weight_decay: float = LINEAR_WEIGHT_DECAY,
) -> torch.Tensor:
    """Predicted class of every test row from a multinomial logistic regression fitted with L-BFGS."""
    xtr, xte = _standardise(train_x.double(), test_x.double())
    weight = torch.zeros(xtr.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], max_iter=LINEAR_MAX_ITER, tolerance_grad=1e-9, line_search_fn="strong_wolfe"
    )
    target = train_y.long()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(xtr @ weight + bias, target) + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return (xte @ weight + bias).argmax(dim=1)


def knn_predict(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    num_classes: int,
    k: int = KNN_K,
    temperature: float = KNN_TEMPERATURE,
) -> torch.Tensor:
    """Predicted class of every test row by a similarity-weighted vote of its k nearest train rows (cosine)."""
    train = F.normalize(train_x.double(), dim=1)
    test = F.normalize(test_x.double(), dim=1)
    sims = test @ train.T
    k = min(k, train.shape[0])
    top, idx = sims.topk(k, dim=1)
    votes = torch.zeros(test.shape[0], num_classes, dtype=torch.float64)
    votes.scatter_add_(1, train_y.long()[idx], torch.exp(top / temperature))
    return votes.argmax(dim=1)
