"""One error root, one message template."""

from __future__ import annotations

import inspect

import pytest

from hpo_plugin import errors


def test_every_error_is_an_hpo_error():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, Exception)]
    assert len(classes) >= 8 and all(issubclass(c, errors.HpoError) for c in classes)


@pytest.mark.parametrize("cls", [errors.ConfigError, errors.DataError])
def test_experiment_errors_name_the_source_the_key_and_the_fix(cls):
    err = cls("experiments/x.yaml", "data.target", "column 'y' is missing; fix the name")
    assert str(err) == "experiments/x.yaml: data.target: column 'y' is missing; fix the name"
    assert (err.source, err.key) == ("experiments/x.yaml", "data.target")
    assert str(cls("", "search.algo", "unknown")) == "search.algo: unknown"


def test_one_line_flattens_the_message_and_says_where():
    try:
        raise ValueError("first line\n   second   line")
    except ValueError as exc:
        assert errors.one_line(exc).startswith("ValueError: first line second line (at test_errors.py:")
        assert errors.one_line(exc, where=False) == "ValueError: first line second line"
