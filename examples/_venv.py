"""Run the examples with the repository's .venv when started by a python without the package.

Imported by each example before it imports containerd_trio: a newcomer can run
``examples/watch-events.py`` straight after ``make install``, whatever ``python3`` is first on
their PATH.
"""

import os
import sys
from pathlib import Path

try:
    # What the examples import, with the packages it needs (h11, attrs, ...): a python that
    # finds the repository's containerd_trio (PYTHONPATH=.) but not those failed on them.
    import containerd_trio.busybox
    import containerd_trio.client.http  # noqa: F401
except ImportError:
    venv_python = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
    if (
        not venv_python.exists()
        or Path(sys.prefix).resolve() == venv_python.parent.parent.resolve()
    ):
        raise
    os.execv(venv_python, [str(venv_python), *sys.argv])
