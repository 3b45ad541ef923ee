"""The ``hpo`` command: parse options, call the library, turn HpoError into one line.

One module per command group: :mod:`.search` (``hpo search``), :mod:`.models` (``register``,
``promote``, ``rollback``), :mod:`.browse` (``list``, ``show``, ``report``, ``compare``);
:mod:`.options` holds what they share. A new command is a ``click.command`` in its group's
module and a line below.
"""

from __future__ import annotations

import logging

import click

from hpo_plugin.fronts.cli import browse, models, search


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpo_plugin", message="%(version)s")
def main() -> None:
    """Hyperopt searches tracked in MLflow: every trial a nested run, the best model registered."""
    # MLflow's INFO chatter (schema creation, artifact progress) stays out of the way.
    logging.getLogger("mlflow").setLevel(logging.WARNING)


for _command in (
    search.search,
    models.register_command,
    models.promote,
    models.rollback,
    browse.list_command,
    browse.show,
    browse.report,
    browse.compare,
):
    main.add_command(_command)
