"""sqlite stores at trial speed: write-ahead logging on the file, fewer syncs per commit.

MLflow's sqlite store commits every client call in a transaction of its own (a trial with a
model is about a dozen commits). In sqlite's default rollback journal each commit syncs the
file to disk more than once; that, not MLflow's Python, was half of a trial's bookkeeping. Two
documented sqlite settings, nothing of MLflow's schema:

- ``journal_mode=WAL``, a property of the database file, set once when a search prepares the
  store; every later connection, MLflow's UI and migrations included, uses it. sqlite's docs:
  WAL needs every process on one host (not a network filesystem).
- ``synchronous=NORMAL`` on the connections of a process that writes trials (per connection;
  nothing else is changed). In WAL mode a commit then survives the process being killed; only
  an operating-system crash or power loss can roll back the last commits (sqlite's docs,
  "PRAGMA synchronous").
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

_RELAXED: list[bool] = []


def use_wal(path: str) -> None:
    """Put the sqlite database at ``path`` in WAL journal mode (kept in the file).

    Switching needs a moment alone with the file: if another process holds it, the file keeps
    its mode and this search is only slower.
    """
    try:
        with sqlite3.connect(path, timeout=1) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
        connection.close()
    except sqlite3.OperationalError:
        pass


def relax_syncs() -> None:
    """From now on, this process's sqlite connections through SQLAlchemy sync a WAL file only at
    checkpoints (``synchronous=NORMAL``); a rollback-journal file keeps its full syncs."""
    if _RELAXED:
        return
    _RELAXED.append(True)
    event.listen(Engine, "connect", _on_connect)


def _on_connect(connection, _record) -> None:
    if not isinstance(connection, sqlite3.Connection):
        return
    cursor = connection.cursor()
    try:
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
