"""tvssl: self-supervised audio-visual representation learning from long-form video."""

__version__ = "0.1.0"
