"""``stateway convert``: an older-dialect flow (``version: v1``, ``type: flow``) rewritten in the
newer dialect (``Type: StateMachine``). Exit 0 with a warning on stderr when something has no exact
equivalent (the output says what, in comments); exit 1 when the input is not a valid older flow."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from stateway.fdl import FlowDefinitionError, load_flow
from stateway.fdl._convert import convert_flow
from stateway.runtime import IntegrationRegistry


@click.command("convert")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the result here instead of stdout")
@click.option("--name", help="the flow's Name (default: the flow's own name, else the file's name)")
def convert_command(file: str, output: str | None, name: str | None) -> None:
    """Convert an older-dialect flow (version: v1, type: flow) to Type: StateMachine."""
    try:
        source = Path(file).read_text()
    except OSError as exc:
        click.echo(f"{file}:0:0: error: cannot read: {exc.strerror}", err=True)
        sys.exit(1)
    try:
        flow = load_flow(source, IntegrationRegistry.default().modes())
    except FlowDefinitionError as exc:
        for problem in exc.problems:
            click.echo(problem.format(file), err=True)
        sys.exit(1)
    for problem in flow.warnings:
        click.echo(problem.format(file), err=True)
    if flow.v1 is None:
        click.echo(f"{file}: error: this flow is already in the newer dialect (Type: StateMachine); nothing to "
                   "convert", err=True)
        sys.exit(1)
    result = convert_flow(flow, name or flow.name or Path(file).stem)
    for note in result.notes:
        click.echo(f"{file}: warning: no exact equivalent: {note}", err=True)
    if output:
        Path(output).write_text(result.text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(result.text, nl=False)
