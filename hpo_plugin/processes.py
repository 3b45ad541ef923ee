"""Helper processes that talk pickle frames over stdin/stdout.

Used by the trial writer and the local executor's workers. A fresh interpreter rather than a
fork: a fork inherits OpenMP and database state (XGBoost deadlocks in a forked child), and
multiprocessing's spawn re-imports the user's ``__main__``.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

EOF_FRAME = object()  # what ``receive`` returns when the other side is gone


def spawn(entry: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``python -c "from <module> import <fn>; <fn>()"`` for ``entry`` = 'module:fn'."""
    module, fn = entry.split(":")
    package_root = str(Path(__file__).resolve().parent.parent)
    python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-c", f"from {module} import {fn}; {fn}()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": python_path, **(env or {})},
    )


def send(pipe, message: Any) -> None:
    """Write one frame; a message that cannot be pickled raises before anything is written."""
    pipe.write(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
    pipe.flush()


def receive(pipe) -> Any:
    """The next frame, or EOF_FRAME if the pipe closed (or was cut mid-frame by a kill)."""
    try:
        return pickle.load(pipe)
    except (EOFError, pickle.UnpicklingError, OSError):
        return EOF_FRAME


def child_io(niceness: int = 0) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    """In a helper process: (receive, send) over stdin/stdout; prints go to stderr.

    Ctrl-C reaches the whole process group; the parent process decides what happens.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if niceness:
        os.nice(niceness)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints must not corrupt the frames
    return (lambda: receive(stdin)), (lambda message: send(stdout, message))


def resident_mb(pid: int) -> float:
    """A process's resident memory in MB (Linux's /proc; 0 where it cannot be read)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
