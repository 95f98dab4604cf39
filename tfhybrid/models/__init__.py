"""Encoders (ResNet-18/50/101, single and two-branch), the regressor and `HybridModel`."""
