"""The MLflow plugin entry points: discovered by MLflow, quiet outside a search, never raising."""

from __future__ import annotations

import os

import mlflow
from conftest import QUIET

from hpo_plugin import __version__
from hpo_plugin.fronts.experiment import load_experiment
from hpo_plugin.search import run_search
from hpo_plugin.tracking.run_context import DIGEST_ENV, SEARCH_ENV, SearchRunContextProvider, search_context


def test_run_context_provider_is_discovered_and_stamps_only_inside_a_search(tiny, client):
    # MLflow's registry of providers, read to check that the entry point was discovered.
    from mlflow.tracking.context.registry import _run_context_provider_registry, resolve_tags

    assert any(isinstance(p, SearchRunContextProvider) for p in _run_context_provider_registry)
    assert "hpo.search_id" not in resolve_tags()
    with search_context("abc", "123"):
        tags = resolve_tags()
        with mlflow.start_run() as run:
            pass
    assert tags["hpo.search_id"] == "abc" and tags["hpo.config_digest"] == "123"
    assert client.get_run(run.info.run_id).data.tags["hpo.search_id"] == "abc"
    with mlflow.start_run() as plain:
        pass
    assert "hpo.search_id" not in client.get_run(plain.info.run_id).data.tags
    result = run_search(load_experiment(tiny(search=QUIET)))
    trial = client.get_run(result.best.run_id)
    assert trial.data.tags["hpo.version"] and trial.data.tags["hpo.search_id"] == result.parent_run_id


def test_a_broken_plugin_never_breaks_unrelated_runs(monkeypatch, client):
    monkeypatch.setenv(SEARCH_ENV, "x")
    monkeypatch.setattr(os, "environ", None)  # every lookup inside the provider now fails
    provider = SearchRunContextProvider()
    assert provider.in_context() is False and provider.tags() == {}
    monkeypatch.undo()
    with mlflow.start_run() as run:
        mlflow.log_param("a", 1)
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_provider_tags_name_the_search_digest_and_version(monkeypatch):
    provider = SearchRunContextProvider()
    monkeypatch.delenv(SEARCH_ENV, raising=False)
    assert provider.in_context() is False
    monkeypatch.setenv(SEARCH_ENV, "run-1")
    monkeypatch.setenv(DIGEST_ENV, "d1")
    assert provider.in_context() is True
    assert provider.tags() == {
        "hpo.search_id": "run-1",
        "hpo.version": __version__,
        "hpo.config_digest": "d1",
    }


def test_search_context_restores_the_environment_after_the_search(monkeypatch):
    monkeypatch.setenv(SEARCH_ENV, "outer")
    monkeypatch.delenv(DIGEST_ENV, raising=False)
    try:
        with search_context("inner", "d2"):
            assert (os.environ[SEARCH_ENV], os.environ[DIGEST_ENV]) == ("inner", "d2")
            raise RuntimeError("a search that fails")
    except RuntimeError:
        pass
    assert os.environ[SEARCH_ENV] == "outer" and DIGEST_ENV not in os.environ
