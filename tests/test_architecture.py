"""docs/architecture.md against the code: its module map names every module of the
package, and each module imports only from modules above it in that map."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "motifscan"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def mapped_modules() -> list[str]:
    """The package's modules in the order of the map (``similarity/`` is one entry)."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    table = page.split("## Module map", 1)[1].split("\n## ", 1)[0]
    order = []
    for cell in re.findall(r"^\| (.+?) \|", table, re.M):
        for path in re.findall(r"`([\w/]+(?:\.py|/))`", cell):
            order.append("motifscan." + path.removesuffix(".py").removesuffix("/").replace("/", "."))
    return [name.removesuffix(".__init__") for name in order]


def layer(name: str, order: list[str]) -> int:
    if name.startswith("motifscan.similarity"):
        name = "motifscan.similarity"
    if name == "motifscan":
        return len(order)
    return order.index(name)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for target in [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]:
                if target in known:
                    found.add(target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
    return found


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def test_the_module_map_names_every_module_and_only_modules_that_exist():
    order = mapped_modules()
    modules = package_modules()
    for name in modules:
        if name not in ("motifscan", "motifscan.__main__", "motifscan.io") and not name.startswith(
            "motifscan.similarity."
        ):
            assert name in order, f"{name} is not in the module map of docs/architecture.md"
    for name in order:
        assert name in modules, f"docs/architecture.md names {name}, which does not exist"


def test_every_module_imports_only_from_modules_above_it():
    order = mapped_modules() + ["motifscan.__main__"]
    modules = package_modules()
    upward = []
    for name, path in modules.items():
        for target in imported_modules(path, set(modules)):
            if target.startswith("motifscan.similarity") and name.startswith("motifscan.similarity"):
                continue  # the backends and their front module are one unit
            if target == "motifscan" or name == "motifscan":
                continue  # the package's API imports from everything; nothing imports it
            if layer(target, order) >= layer(name, order):
                upward.append(f"{name} -> {target}")
    assert not upward, "imports against the order of docs/architecture.md: " + ", ".join(sorted(upward))
