"""Shared test settings and fixtures."""

from pathlib import Path

import pytest

from compute.engine.testing import LJSPEECH_SAMPLE, copy_project
from compute.torchtools import torch_threads


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Test tensors are small: one thread is as fast, and does not stall when cores are shared."""
    with torch_threads(1):
        yield


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """A copy of the project in a temporary folder, to edit freely."""
    return copy_project(tmp_path / "project")


@pytest.fixture
def ljspeech_sample() -> Path:
    """The real LJ Speech sample's folder; the test is skipped where the sample is absent."""
    if not (LJSPEECH_SAMPLE / "metadata.csv").is_file():
        pytest.skip(f"the real LJ Speech sample is not at {LJSPEECH_SAMPLE}")
    return LJSPEECH_SAMPLE
