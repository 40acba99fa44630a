"""Where the service finds its law and schemas; overridable for tests and replays."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = ROOT / "schemas"
RULESETS_DIR = Path(os.environ.get("RAC_RULESETS_DIR", ROOT / "rulesets"))
SOURCES_DIR = RULESETS_DIR / "sources"
