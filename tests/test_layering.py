"""DESIGN rule: below the ui/ and api/ layers, nothing imports gradio or fastapi."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "modules"
ALLOWED = {"ui", "api"}
WEB = {"gradio", "fastapi", "starlette", "uvicorn"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_engine_and_models_never_import_web_frameworks():
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ALLOWED or rel.name == "server.py":
            continue
        bad = _imports(path) & WEB
        if bad:
            offenders.append(f"{rel}: {sorted(bad)}")
    assert offenders == []
