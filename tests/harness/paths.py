"""Where the harness keeps its own files (recipes, guest files, pinned versions)."""

from pathlib import Path

HARNESS_DATA = Path(__file__).resolve().parent / "data"
