"""TensorFlow's start-up messages, kept out of the command-line tools' output.

Importing TensorFlow prints C++ log lines to standard error before any logging is configured: the
oneDNN notice, CUDA driver probes and, on machines without a GPU, `failed call to cuInit ...
UNKNOWN ERROR (303)`. They are not failures, but read like them. `quiet_import()` imports
TensorFlow and lists its devices with file descriptor 2 pointed at a temporary file, shown only if
the import itself fails. `TFHYBRID_TF_LOGS=1` lets every message through again.
"""
import os
import sys
import tempfile

SHOW_VARIABLE = "TFHYBRID_TF_LOGS"


def quiet_import():
    """Imports TensorFlow (and probes its devices) without its start-up messages; a no-op when it is
    already imported or `TFHYBRID_TF_LOGS=1`."""
    if os.environ.get(SHOW_VARIABLE) == "1" or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
            tf.get_logger().setLevel("WARNING")        # e.g. the checkpoint saver's per-save INFO lines
            _drop_library_info_lines()
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _drop_library_info_lines():
    """TensorFlow's SavedModel code logs INFO lines through absl, the logger the commands' own
    progress messages use: drop the INFO lines that come from TensorFlow's and Keras' files."""
    import logging

    from absl import logging as absl_logging

    def keep(record):
        library = any(f"{os.sep}{name}{os.sep}" in record.pathname for name in ("tensorflow", "keras"))
        return record.levelno >= logging.WARNING or not library

    absl_logging.get_absl_handler().addFilter(keep)


def started_as_command():
    """Whether this process runs one of the project's commands (`python -m tfhybrid...`), as opposed
    to a library user or a test runner importing the package."""
    return bool(sys.argv) and sys.argv[0] == "-m"
