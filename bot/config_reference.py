"""The README's configuration table, generated from the settings model so it cannot drift.

`python -m bot.config_reference` prints it, `... --write README.md` puts it between the
README's markers; a test fails when the README's copy differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic_core import PydanticUndefined

from bot.settings import Settings, env_name


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    if field.default_factory is not None:
        value: object = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is PydanticUndefined or value is None:
        return "—"
    return f"`{value}`"


def config_table() -> str:
    rows = ["| key | env | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | `{env_name(name)}` | {_default(name)} | {meaning} |")
    return "\n".join(rows)


START, END = "<!-- config-table:start -->\n", "<!-- config-table:end -->"


def write_into(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{START}{config_table()}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"] and len(sys.argv) == 3:
        write_into(Path(sys.argv[2]))
    else:
        print(config_table())
