"""Data side of tvssl: corpus index, clip decoding, the (k, w) batch sampler and LightningDataModules."""
