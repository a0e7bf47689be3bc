"""Every ``console`` example in the README and docs runs and prints what the page shows.

A block's lines starting with ``$ `` are commands, run in order with bash (in a directory
that links the project root's entries, so files they write stay out of the project; the
installed ``motifscan`` first on PATH); the lines after a command, up to the next command
or the end of the block, are its expected stdout. Commands that write to the
terminal (no pipe, no ``--format``, no ``--output``) run as if stdout were a terminal, so
the page can show the table a person sees; colour codes and trailing blanks are ignored.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def examples():
    """One test per ``console`` block: its commands run in order, as a reader would."""
    for page in PAGES:
        for number, block in enumerate(re.findall(r"```console\n(.*?)```", page.read_text(), re.S), 1):
            steps = []
            for line in block.splitlines():
                if line.startswith("$ "):
                    steps.append((line[2:], []))
                elif steps:
                    steps[-1][1].append(line)
            if steps:
                yield pytest.param(steps, id=f"{page.name} #{number}: {steps[0][0][:60]}")


def writes_to_terminal(command: str) -> bool:
    return not any(mark in command for mark in ("|", "--format", "--output", " -o ", ">"))


@pytest.fixture
def reader_directory(tmp_path):
    """A directory that looks like the project root (its entries linked), so examples find
    ``sample_data/`` and the files they write (a fitted kernel, say) land outside the project."""
    for entry in ROOT.iterdir():
        if not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    return tmp_path


@pytest.mark.parametrize("steps", list(examples()))
def test_documented_example(steps, reader_directory):
    for command, expected in steps:
        env = dict(
            os.environ,
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            NO_COLOR="1",
            COLUMNS="100",
        )
        if writes_to_terminal(command):
            env["TTY_COMPATIBLE"] = "1"
        completed = subprocess.run(
            ["bash", "-c", "set -o pipefail; " + command],
            cwd=reader_directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert completed.returncode == 0, f"$ {command}\n{completed.stderr}"
        printed = [ANSI.sub("", line).rstrip() for line in completed.stdout.splitlines()]
        assert printed == [line.rstrip() for line in expected], f"$ {command}"


def test_every_page_has_examples_that_are_collected():
    assert len(list(examples())) >= 5


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_examples_in_docs(page):
    import doctest

    failures, attempted = doctest.testfile(
        str(page), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    )
    assert failures == 0
    if page.name == "python-api.md":
        assert attempted >= 6


def api_signature(name: str) -> str:
    """``motifscan.NAME(...)`` as docs/python-api.md heads its section: parameter names and
    defaults of the code (type hints left out)."""
    import inspect

    import motifscan

    parts, keyword_only = [], False
    for parameter in inspect.signature(getattr(motifscan, name)).parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY and not keyword_only:
            parts.append("*")
            keyword_only = True
        default = parameter.default
        if default is parameter.empty:
            parts.append(parameter.name)
        else:
            parts.append(
                f'{parameter.name}="{default}"' if isinstance(default, str) else f"{parameter.name}={default!r}"
            )
    return f"motifscan.{name}({', '.join(parts)})"


@pytest.mark.parametrize("name", ["detect", "scan", "motifs_to_frame", "read_kernel"])
def test_python_api_page_shows_the_signatures_of_the_code(name):
    assert f"## `{api_signature(name)}`" in (ROOT / "docs" / "python-api.md").read_text()


def test_every_option_and_choice_of_every_command_is_in_the_cli_reference():
    import click

    from motifscan.cli import cli

    page = (ROOT / "docs" / "cli.md").read_text()
    for name, command in cli.commands.items():
        for option in command.params:
            if not isinstance(option, click.Option):
                continue
            for spelling in option.opts + option.secondary_opts:
                assert not spelling.startswith("--") or spelling in page, f"{name} {spelling} is not in docs/cli.md"
            if isinstance(option.type, click.Choice):
                lines = [line for line in page.splitlines() if any(s in line for s in option.opts)]
                for choice in option.type.choices:
                    assert any(re.search(rf"\b{re.escape(choice)}\b", line) for line in lines), (
                        f"{name} {option.opts[-1]}: the choice {choice!r} is not on its lines of docs/cli.md"
                    )
