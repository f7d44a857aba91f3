"""The package's import graph: stages import only earlier stages, no circle, no private names across modules."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PKG = REPO / "drn_edge"
# Rank of each top-level module or subpackage, in the order data flows; a module may import only its own
# package or a package of a lower rank. The shared torch-free facts sit at 0.
LAYERS = {
    "errors": 0, "checks": 0, "outputs": 0, "progress": 0, "artifacts": 0, "sidecar": 0, "onnx_spec": 0, "imageio": 0, "photos": 0,
    "rain": 1, "runtime": 1,
    "model": 2, "evaluation": 2,
    "train": 3, "detection": 3,
    "export": 4,
    "bench": 5,
    "cli": 6,
    # thin re-exports of public names kept where a path moved; nothing inside the package imports them
    "metrics": 7, "checkpoint": 7, "__init__": 7,
}


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = f.relative_to(REPO).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    mods, edges, private = _modules(), {}, []
    for name, f in mods.items():
        deps = edges.setdefault(name, set())
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "drn_edge":
                assert node.level == 0, f"{name}: relative import"
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in mods else node.module)
                    if alias.name.startswith("_"):
                        private.append(f"{name} imports {full}")
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
        deps.discard(name)
    return edges, private


def _layer(module: str) -> tuple[str, int]:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    assert key in LAYERS, f"{module}: new top-level module or package; give it a rank in LAYERS"
    return key, LAYERS[key]


def test_no_import_goes_to_a_later_stage():
    edges, _ = _graph()
    wrong = []
    for a, deps in edges.items():
        pa, ra = _layer(a)
        for b in deps:
            pb, rb = _layer(b)
            if pa != pb and rb > ra:
                wrong.append(f"{a} -> {b}")
    assert not wrong, wrong


def test_no_import_circle():
    edges, _ = _graph()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if dep == "drn_edge":
                continue
            if state.get(dep) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])


def test_no_module_imports_another_modules_private_name():
    _, private = _graph()
    assert not private, private


def test_subpackage_inits_stay_light():
    """Every __init__ is empty, a docstring, or lazy (a __getattr__ table): importing a package runs nothing."""
    for init in PKG.rglob("__init__.py"):
        tree = ast.parse(init.read_text())
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = {a.name for n in imports for a in n.names}
        heavy = names - {"annotations", "importlib"}
        if init.parent.name == "cli":
            continue  # cli's shared option helpers (checked by test_torch_free)
        assert not heavy, f"{init.relative_to(REPO)} imports {sorted(heavy)} at package import"


def test_the_readme_layout_matches_the_tree():
    """Every module and subpackage of drn_edge is named in the layout block of docs/development.md, and nothing else is."""
    import re

    readme = (REPO / "docs" / "development.md").read_text()
    block = readme.split("Layout, in the order data flows", 1)[1].split("```", 2)[1]
    named_files = set(re.findall(r"\b(\w+\.(?:py|json))\b", block))
    named_dirs = set(re.findall(r"^\s*(\w+)/", block, re.M))
    modules = {f.name for f in PKG.rglob("*.py") if f.name != "__init__.py"} | {"schema.json"}
    packages = {d.name for d in PKG.iterdir() if d.is_dir() and (d / "__init__.py").is_file()}
    data = {"weights", "presets", "calibration_ranges", "standins"}
    assert modules - named_files == set(), "modules missing from the README layout"
    assert packages - named_dirs == set(), "subpackages missing from the README layout"
    everything = modules | {f.name for f in (REPO / "benchmarks").iterdir()}
    assert named_files - everything == set(), "the README layout names files that do not exist"
    assert named_dirs - packages - data - {"drn_edge", "benchmarks", "docker", "tests"} == set()


def test_public_names_keep_working_after_the_move():
    import drn_edge
    import drn_edge.checkpoint
    import drn_edge.metrics
    import drn_edge.rain
    import drn_edge.runtime
    from drn_edge.model import DRN, DRNConfig  # lazy re-exports of drn_edge.model.drn

    assert callable(drn_edge.load_model) and callable(drn_edge.rain.synthesize) and callable(drn_edge.rain.rain_clip)
    assert all(callable(getattr(drn_edge.metrics, n)) for n in ("psnr", "ssim", "uqi"))
    assert callable(drn_edge.checkpoint.save_checkpoint) and callable(drn_edge.checkpoint.load_model)
    assert drn_edge.runtime.DerainEngine and drn_edge.runtime.StreamRunner and DRN and DRNConfig
    assert drn_edge.rain.LEVEL_NAMES == ("low", "medium", "high")


# What other packages may import from runtime/: its public face and the torch-free helpers they share. Everything
# else (stages, streams, backends' insides) is the runtime's own business.
RUNTIME_SURFACE = {"drn_edge.runtime", "drn_edge.runtime.engine", "drn_edge.runtime.frames", "drn_edge.runtime.backend",
                   "drn_edge.runtime.onnxruntime_backend", "drn_edge.runtime.tensorrt_env", "drn_edge.runtime.sources",
                   "drn_edge.runtime.apply", "drn_edge.runtime.streaming", "drn_edge.runtime.stream",
                   "drn_edge.runtime.deadline", "drn_edge.runtime.frame_policy", "drn_edge.runtime.tensorrt_backend",
                   "drn_edge.runtime.video_out"}


def test_other_packages_import_only_the_runtime_surface():
    edges, _ = _graph()
    wrong = [f"{a} -> {b}" for a, deps in edges.items() if not a.startswith("drn_edge.runtime")
             for b in deps if b.startswith("drn_edge.runtime") and b not in RUNTIME_SURFACE]
    assert not wrong, wrong


def test_importing_runtime_frames_loads_nothing_else():
    import subprocess
    import sys

    code = ("import sys, drn_edge.runtime.frames; "
            "print(sorted(m for m in sys.modules if m.startswith('drn_edge.') and m not in "
            "('drn_edge.runtime', 'drn_edge.runtime.frames')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    loaded = eval(r.stdout)  # a printed list of module names
    assert all(m.split(".")[1] in ("errors", "checks", "onnx_spec", "imageio") for m in loaded), loaded
