"""Packaging: the required layout, one pin per dependency, rcc's conda.yaml in step."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_required_layout() -> None:
    for name in ("robots", "keywords", "resources", "tests", "bench", "docs"):
        assert (ROOT / name).is_dir(), name
    for name in ("conda.yaml", "robot.yaml", "README.md", "pyproject.toml", "Makefile"):
        assert (ROOT / name).is_file(), name
    assert "make test" in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8")[:400]
    assert head.index("make run") < head.index("make test")


def test_conda_yaml_pins_exactly_what_pyproject_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {dep.lower() for dep in project["dependencies"]}
    assert all("==" in dep for dep in pins), "every runtime dependency is pinned exactly"
    conda = yaml.safe_load((ROOT / "conda.yaml").read_text())
    pip = next(item["pip"] for item in conda["dependencies"] if isinstance(item, dict))
    conda_pins = {dep.lower() for dep in pip if "==" in dep}
    assert pins <= conda_pins, f"missing in conda.yaml: {sorted(pins - conda_pins)}"
    for item in conda["dependencies"]:
        if isinstance(item, str):
            assert "=" in item, f"conda package {item} is not pinned"


def test_robot_yaml_runs_every_robot() -> None:
    config = yaml.safe_load((ROOT / "robot.yaml").read_text())
    commands = " ".join(task["shell"] for task in config["tasks"].values())
    for robot in (ROOT / "robots").glob("*.robot"):
        assert f"robots/{robot.name}" in commands, robot.name
    assert "keywords" in config["PYTHONPATH"]


def test_the_core_never_imports_robot_framework() -> None:
    for path in (ROOT / "keywords" / "backoffice").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "robot" or n.startswith("robot.") for n in names), path
