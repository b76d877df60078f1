"""DESIGN rules on imports: the layer order the README draws, and no web framework below ui/ and api/.

Every `import modules.X` (also inside functions) must point to the same package or a lower layer;
packages on the same layer do not import each other.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "modules"
ALLOWED = {"ui", "api"}
WEB = {"gradio", "fastapi", "starlette", "uvicorn"}

# Lowest first. A package may import its own modules and anything on a lower layer.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"parsing", "storage", "access"}),  # linear-time text readers; durable files; auth back-off
    frozenset({"prompt_parser", "infotext", "noise", "hashing", "images", "settings", "paths", "styles",
               "model_types", "cmd_args", "hooks", "console_log"}),
    frozenset({"text"}),
    frozenset({"models", "samplers"}),
    frozenset({"upscalers"}),  # model upscalers and the tiled runner the VAE tiling shares
    frozenset({"vae_tiling", "face_restoration"}),
    frozenset({"engine"}),
    frozenset({"controlnet"}),  # a feature folder that training/ builds on (the demo ControlNet)
    # Feature folders (lora/, hires/, ...) belong here, beside the scripts.
    frozenset({"jobs", "scripts", "training", "networks", "hires", "extras", "restore_faces", "deepbooru",
               "refiner"}),
    frozenset({"features", "interrogate"}),  # interrogate trains its demo models with training/'s world
    frozenset({"runtime"}),
    frozenset({"extensions"}),  # loads extensions onto the Runtime; the A1111 facades
    frozenset({"ui", "api"}),
    frozenset({"server"}),
)


def _layer_of(package: str) -> int:
    for rank, names in enumerate(LAYERS):
        if package in names:
            return rank
    raise AssertionError(f"modules/{package} is in no layer of tests/test_layering.py; add it where it belongs")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _package(path: Path, root: Path) -> str:
    return path.relative_to(root).parts[0].removesuffix(".py")


def layer_violations(root: Path) -> list[str]:
    """'file: imports X (layer a above layer b)' for every import that points up or sideways."""
    found = []
    for path in sorted(root.rglob("*.py")):
        own = _package(path, root)
        if own == "__init__":
            continue
        rank = _layer_of(own)
        for name in sorted(_imports(path)):
            parts = name.split(".")
            if parts[0] != "modules" or len(parts) < 2 or parts[1] == own:
                continue
            other = _layer_of(parts[1])
            if other >= rank:
                found.append(f"{path.relative_to(root)}: imports {name} (layer {other} is not below layer {rank})")
    return found


def test_engine_and_models_never_import_web_frameworks():
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ALLOWED or rel.name == "server.py":
            continue
        bad = {n.split(".")[0] for n in _imports(path)} & WEB
        if bad:
            offenders.append(f"{rel}: {sorted(bad)}")
    assert offenders == []


def test_imports_follow_the_layer_order():
    assert layer_violations(ROOT) == []


def test_a_planted_upward_import_is_caught(tmp_path: Path):
    """The checker itself: a text/ module that imports the engine is reported, a downward one is not."""
    (tmp_path / "text").mkdir()
    (tmp_path / "engine").mkdir()
    (tmp_path / "text" / "bad.py").write_text("def f():\n    from modules.engine.generate import generate\n")
    (tmp_path / "engine" / "good.py").write_text("import modules.text.bad\n")
    assert layer_violations(tmp_path) == [
        "text/bad.py: imports modules.engine.generate (layer 6 is not below layer 2)"]
