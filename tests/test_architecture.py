"""The shape of the code, as pyproject.toml's import contracts declare it (checked by
`lint-imports`): here, that the contracts leave no module out, and that no package reaches
into another's private names."""

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
PACKAGES = CONTRACTS["root_packages"]
COMPOSITION_ROOT = "config"  # settings, root URLs, WSGI: it may import anything, and nothing imports it


def modules(package: str) -> list[str]:
    """Every module of the package with code in it, migrations aside (Django writes those)."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "migrations" in parts or (parts[-1] == "__init__" and not path.read_text().strip()):
            continue
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def layered() -> dict[str, set[str]]:
    """Each package's modules named in a layer of a contract of its own (a name covers the
    modules under it)."""
    named: dict[str, set[str]] = {}
    for contract in CONTRACTS["contracts"]:
        if contract["type"] != "layers" or not contract.get("containers"):
            continue
        for container in contract["containers"]:
            for layer in contract["layers"]:
                for name in layer.replace(":", "|").split("|"):
                    named.setdefault(container, set()).add(f"{container}.{name.strip()}")
    return named


def test_the_packages_are_layered_one_over_the_other():
    top = next(c for c in CONTRACTS["contracts"] if c["type"] == "layers" and not c.get("containers"))
    assert top["layers"] == PACKAGES
    assert set(PACKAGES) == {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}


def test_every_module_sits_in_a_layer():
    named = layered()
    assert set(named) == set(PACKAGES) - {COMPOSITION_ROOT}
    left_out = [
        module
        for package in named
        for module in modules(package)
        if module != package and not any(module == n or module.startswith(n + ".") for n in named[package])
    ]
    assert left_out == [], f"not in any layer of pyproject.toml's contracts: {left_out}"
    unknown = [
        n
        for package, names in named.items()
        for n in names
        if not any(m == n or m.startswith(n + ".") for m in modules(package))
    ]
    assert unknown == [], f"layers name modules that do not exist: {unknown}"


def private_imports(path: Path, package: str) -> list[str]:
    """`from other.module import _name`, `import other._module` and `other.module._name`
    where `other` is another of our packages."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top in PACKAGES and top != package:
                parts = node.module.split(".") + [alias.name for alias in node.names]
                found += [f"{node.module}: {p}" for p in parts if p.startswith("_") and not p.startswith("__")]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in PACKAGES and top != package and any(p.startswith("_") for p in alias.name.split(".")):
                    found.append(alias.name)
    return found


def test_no_package_imports_another_packages_private_names():
    offending = {}
    for package in [*PACKAGES, "tests"]:
        for path in (ROOT / package).rglob("*.py"):
            if found := private_imports(path, package if package != "tests" else ""):
                offending[str(path.relative_to(ROOT))] = found
    # The tests may look inside: they pin what a module keeps to itself. The code may not.
    offending = {path: names for path, names in offending.items() if not path.startswith("tests/")}
    assert offending == {}


def test_the_check_finds_a_private_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from core.throttling import _window\nimport workspaces._internal\nfrom core import fields\n")
    assert private_imports(sample, "apikeys") == ["core.throttling: _window", "workspaces._internal"]
    assert private_imports(sample, "core") == ["workspaces._internal"]


def test_the_readme_and_the_map_name_every_package_and_module_layer():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    for package in PACKAGES:
        assert f"| `{package}/` |" in layout, package
        assert f"\n{package}/" in architecture, package
    for module in ("lookup.py", "prepared.py", "schema.py", "selectors.py", "audit.py", "actors.py", "spec.py"):
        assert module in architecture


def test_every_json_answer_of_the_apis_is_rendered_by_its_documented_serializer():
    """Viewsets answer with `core.responses.respond(<Serializer>, ...)` (or a file), never with
    a hand-built `Response`, which the schema could not hold to its fields."""
    modules = [*sorted((ROOT / "web" / "api").glob("*.py")), ROOT / "apikeys" / "api.py"]
    built = {
        str(path.relative_to(ROOT)): [
            node.lineno
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Response"
        ]
        for path in modules
    }
    assert {path: lines for path, lines in built.items() if lines} == {}
