"""The scenario's mirror: its CA and the registry's certificate, then the registry filled (prepare.yml).

    mirror.py pki FOLDER ADDRESS            a CA (werkraum/lab/pki.py) and a certificate for ADDRESS
    mirror.py fill FOLDER REPO CONTAINER    push the built images to REPO, copy the files tree into CONTAINER

The images and files are what `werkraum mirror build` and `werkraum mirror images`
built (prepare.yml runs them first; both are cached). Errors name what is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from werkraum.errors import WerkraumError
from werkraum.lab.pki import LabCA
from werkraum.mirror import pins
from werkraum.mirror.push import fill
from werkraum.paths import repo_root


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 3 and argv[0] == "pki":
            ca = LabCA(Path(argv[1]), "molecule-kubernetes")
            ca.ensure()
            ca.issue("registry", [argv[2]])
        elif len(argv) == 4 and argv[0] == "fill":
            ca = LabCA(Path(argv[1]), "molecule-kubernetes")
            filled = fill(pins.load(repo_root()), argv[2], ca.trust_dir(), argv[3])
            print(f"{len(filled.images)} images pushed to {argv[2]}, {filled.files} files copied into {argv[3]}")
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except WerkraumError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
