"""What every command prints the same way."""
from __future__ import annotations

import json


def print_json(obj: object) -> None:
    """Print ``obj`` as indented JSON, Chinese left readable, anything else as its ``str``.

    Parameters
    ----------
    obj
        A JSON-able value; dates, paths and other objects are written as text.
    """
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))
