"""Shared test settings."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Test tensors are small: one thread is as fast, and does not stall when cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
