"""Print pip constraints pinning every direct dependency to its floor in pyproject.toml.

`pip install -c <(python3 .ci/floors.py) -e '.[test]'` then installs the oldest versions
podmem claims to support (what uv calls lowest-direct resolution), so a floor that is not
true fails CI instead of a user's install.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
for requirement in project["dependencies"]:
    found = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([^,\s]+)(,.*)?", requirement)
    if found is None:
        sys.exit(f"floors.py: {requirement!r} has no >= floor; give it one")
    print(f"{found.group(1)}=={found.group(2)}")
