"""Shared fixtures: the tiny random Stable Diffusion on disk, and an offline hub."""
import pytest

from get3d.distill.tiny import save_tiny_pipeline


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "sd")


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
