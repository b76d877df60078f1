"""An extension's own files import by their top-level name, as in A1111 (whose loader puts the
extension's folder on sys.path): `from scripts.helpers import x` from a script, a package beside
`scripts/` with relative imports, and those modules see the facades (not the app's `modules`)."""

from __future__ import annotations

import sys
from pathlib import Path

from modules.cmd_args import parse_args
from modules.extensions.host import load_extensions
from modules.runtime import build_runtime
from tests.fixtures.extensions import write_extension

MAIN = '''
from modules import scripts
from scripts.helpers import TAGS_DIR, MISSING, OPTS, FOLDERS, opts_kind
from scripts import helpers as helpers_module
import lib_own.tools
from lib_own import double


class Uses(scripts.Script):
    def title(self):
        return "Uses own modules"

    def show(self, is_img2img):
        return scripts.AlwaysVisible

    def process(self, p):
        p.extra_generation_params["Doubled"] = double(21)


SEEN = {"folders": FOLDERS, "opts_store": OPTS._store,
        "tags": TAGS_DIR, "missing": MISSING, "opts": opts_kind(), "same": helpers_module.TAGS_DIR is TAGS_DIR,
        "tools": lib_own.tools.triple(2)}
'''

HELPERS = '''
from pathlib import Path
from modules import scripts, shared

TAGS_DIR = str(Path(scripts.basedir()) / "tags")
try:
    from modules import devices  # an A1111 internal the facades do not provide
    MISSING = ""
except ImportError as e:
    MISSING = str(e)


def opts_kind():
    return type(shared.opts).__module__


OPTS = shared.opts
FOLDERS = (shared.cmd_opts.embeddings_dir, shared.cmd_opts.lora_dir, shared.cmd_opts.hypernetwork_dir)
'''


def test_own_modules_and_packages_import_with_the_facades(tmp_path: Path) -> None:
    folder = write_extension(tmp_path / "extensions" / "own-mods", {
        "scripts/main.py": MAIN, "scripts/helpers.py": HELPERS,
        "lib_own/__init__.py": "from .tools import double\n",
        "lib_own/tools.py": "def double(x):\n    return 2 * x\n\n\ndef triple(x):\n    return 3 * x\n"})
    runtime = build_runtime(parse_args(["--data-dir", str(tmp_path), "--cpu", "--no-demo-model", "--skip-install",
                                        "--no-hashing"], environ={}))
    host = load_extensions(runtime)
    assert host.errors == []
    entry = next(e for e in host.entries if e.title == "Uses own modules")
    seen = type(entry.script).process.__globals__["SEEN"]
    assert seen["tags"] == str(folder / "tags")  # basedir() inside the imported module: the extension's folder
    assert "modules.devices is not provided to extensions" in seen["missing"]
    assert seen["opts"] == "modules.extensions.facades.shared"
    assert seen["same"] is True and seen["tools"] == 6
    assert not any(name == "scripts" or name.startswith(("scripts.", "lib_own")) for name in sys.modules)
    assert seen["opts_store"] is runtime.settings
    paths = runtime.paths  # A1111's folder flags are folders (extensions do Path(cmd_opts.lora_dir)), not None
    assert seen["folders"] == (str(paths.embeddings_dir), str(paths.lora_dir), str(paths.models_dir / "hypernetworks"))
    assert runtime.args.lora_dir is None  # the app's own flags are not changed
    again = build_runtime(parse_args(["--data-dir", str(tmp_path), "--cpu", "--no-demo-model", "--skip-install",
                                      "--no-hashing"], environ={}))
    second = load_extensions(again)  # a second app in this process: its own copies, its own facades
    entry = next(e for e in second.entries if e.title == "Uses own modules")
    assert type(entry.script).process.__globals__["SEEN"]["opts_store"] is again.settings
    runtime.shutdown()
    again.shutdown()


HIJACK_READER = '''
from modules import sd_hijack

db = sd_hijack.model_hijack.embedding_db


def listed():
    return {name: (emb.shape, emb.vectors) for name, emb in db.word_embeddings.items()}


try:
    sd_hijack.model_hijack.clip
    OTHER = ""
except AttributeError as e:
    OTHER = str(e)
'''


def test_sd_hijack_embedding_db_lists_our_embeddings(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    write_extension(tmp_path / "extensions" / "emb-reader", {"scripts/reader.py": HIJACK_READER})
    folder = tmp_path / "embeddings"
    folder.mkdir()
    save_file({"emb_params": torch.zeros(2, 768)}, str(folder / "mystyle.safetensors"))
    runtime = build_runtime(parse_args(["--data-dir", str(tmp_path), "--cpu", "--no-demo-model", "--skip-install",
                                        "--no-hashing", "--embeddings-dir", str(folder)], environ={}))
    host = load_extensions(runtime)
    assert host.errors == []
    module = sys.modules["sdui_extension.emb-reader.reader"]
    assert module.listed() == {"mystyle": (768, 2)}  # A1111's shape: the vector width
    save_file({"emb_params": torch.zeros(1, 768)}, str(folder / "newer.safetensors"))
    module.db.load_textual_inversion_embeddings(force_reload=True)
    assert module.listed() == {"mystyle": (768, 2), "newer": (768, 1)}
    assert "modules.sd_hijack.model_hijack.clip is not provided to extensions" in module.OTHER
    runtime.shutdown()
