"""Layers import downward only (tests/app/layers.ini): the service layer sits above the runtime and
the integrations and below the API, the console and the CLI. Inside a package, modules import
each other without circles (the ``acyclic_siblings`` contract of the same file)."""

from __future__ import annotations

from pathlib import Path

CONTRACT = Path(__file__).with_name("layers.ini")


def test_layers_import_downward(capsys):
    from importlinter.cli import lint_imports

    code = lint_imports(config_filename=str(CONTRACT), no_cache=True, no_logo=True)
    assert code == 0, capsys.readouterr().out
