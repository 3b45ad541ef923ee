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

import contextlib
import os
import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

_RELAXED: set[str] = set()  # the store files whose connections relax their syncs
SCHEME = "sqlite:///"


def sqlite_path(uri: str) -> str | None:
    """The database file of a ``sqlite:///`` URI (relative or absolute; a ``?query`` of
    SQLAlchemy's is not part of it), or None for any other URI."""
    if not uri.startswith(SCHEME):
        return None
    return uri.removeprefix(SCHEME).split("?", 1)[0]


def use_wal(path: str) -> None:
    """Put the sqlite database at ``path`` in WAL journal mode (kept in the file).

    Switching needs a moment alone with the file: if another process holds it, the file keeps
    its mode and this search is only slower.
    """
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=1)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        pass


def relax_syncs(tracking_uri: str) -> None:
    """From now on, this process's SQLAlchemy connections to the sqlite store of ``tracking_uri``
    sync its WAL file only at checkpoints (``synchronous=NORMAL``). Any other database this
    process opens (a user's own, a store in a rollback journal) keeps its settings."""
    path = sqlite_path(tracking_uri)
    if path is None:
        return
    if not _RELAXED:
        event.listen(Engine, "connect", _on_connect)
    _RELAXED.add(os.path.realpath(path))


def _on_connect(connection, _record) -> None:
    if not isinstance(connection, sqlite3.Connection):
        return
    cursor = connection.cursor()
    try:
        files = {row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main"}
        if not {os.path.realpath(f) for f in files if f} & _RELAXED:
            return
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
