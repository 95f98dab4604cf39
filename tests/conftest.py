"""Shared fixtures: the toy body and its files are generated into temporary folders, never committed."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))  # test helpers such as densepose_loop

import pytest  # noqa: E402

from tfhybrid.synthetic.model_files import write_model_files  # noqa: E402
from tfhybrid.synthetic.toybody import make_toy_body  # noqa: E402


@pytest.fixture(scope="session")
def toy():
    return make_toy_body(seed=0)


@pytest.fixture(scope="session")
def model_files(toy, tmp_path_factory):
    return write_model_files(toy, str(tmp_path_factory.mktemp("world")))


@pytest.fixture(scope="session")
def tiny_records(tmp_path_factory):
    """(world, records) of a 10-image UP-3D-like world at 32x32, for short training runs."""
    from training_runs import make_tiny_records

    return make_tiny_records(str(tmp_path_factory.mktemp("tiny")))
