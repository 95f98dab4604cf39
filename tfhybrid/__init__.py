"""tfhybrid: SMPL mesh recovery from single images with hybrid annotations (TF2 / Keras 3)."""
from tfhybrid import tf_startup as _tf_startup

__version__ = "0.1.0"

if _tf_startup.started_as_command():
    _tf_startup.quiet_import()
