"""Frozen-feature evaluation: a linear probe and k-NN on an encoder's features, with standard errors.

Fine-tuning a small encoder on a few hundred clips mostly measures the fine-tuning; to see whether one
pretraining beats another at small scale, the encoder is frozen, every file of the official split becomes one
feature (the mean over its evenly spaced clips), and two classifiers that need no tuning read them: a
multinomial logistic regression (fixed L2, fitted to convergence in seconds) and a cosine k-NN. Both report
top-1 over test files with its binomial standard error. The settings are fixed here, the same for every row.
"""

from tvssl.probe.classifiers import KNN_K, LINEAR_WEIGHT_DECAY, knn_predict, linear_probe_predict
from tvssl.probe.features import FileFeatures, file_features
from tvssl.probe.scores import ProbeScores, probe_scores, top1_with_se

__all__ = [
    "KNN_K",
    "LINEAR_WEIGHT_DECAY",
    "FileFeatures",
    "ProbeScores",
    "file_features",
    "knn_predict",
    "linear_probe_predict",
    "probe_scores",
    "top1_with_se",
]
