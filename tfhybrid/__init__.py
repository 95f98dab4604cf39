"""tfhybrid: SMPL mesh recovery from single images with hybrid annotations (TF2 / Keras 3)."""
__version__ = "0.1.0"
