"""Shared fixtures: one mini build per source per test session, and a private cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medforget_data import progress
from medforget_data.builders import build_dataset_folder
from medforget_data.dataset.manifest import BuildConfig


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # The loader builds into the cache on first use; tests must not touch the user's cache.
    cache = tmp_path_factory.mktemp("medforget-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("MEDFORGET_CACHE", str(cache))
    patch.setenv("HF_DATASETS_CACHE", str(cache / "hf-datasets"))
    patch.setenv("HF_HUB_OFFLINE", "1")
    yield
    patch.undo()


@pytest.fixture(scope="session", autouse=True)
def _no_progress_bars() -> None:
    with progress.quiet():
        yield


@pytest.fixture(scope="session")
def synthetic_mini_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "mini"
    build_dataset_folder(BuildConfig(source="synthetic", size="mini", seed=0), out)
    return out


@pytest.fixture(scope="session")
def openi_mini_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("openi") / "mini"
    build_dataset_folder(BuildConfig(source="openi", size="mini", seed=0), out)
    return out


@pytest.fixture()
def browser():
    """A headless Chromium driven through Selenium (the Space test, the leaderboard page test)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("Chromium and ChromeDriver are needed: `bash scripts/install.sh --dev` installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage",
    ):  # fmt: skip
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    yield session
    session.quit()


@pytest.fixture(scope="session")
def tiny_vanilla(synthetic_mini_dir: Path):
    """(model, processor, patient-level unlearner view): tests/tiny_vanilla.py. Tests deep-copy the model."""
    from tests.tiny_vanilla import tiny_vanilla_on

    return tiny_vanilla_on(synthetic_mini_dir)
