"""The README's configuration table, generated from the settings model so it cannot drift.

`python -m bot.config_reference` prints it; a test fails when the README's copy differs.
"""

from __future__ import annotations

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


if __name__ == "__main__":
    print(config_table())
