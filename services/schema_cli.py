"""``careplan schemas``: write the event schemas, or check that the files are current."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.schemas import SCHEMA_DIRECTORY, schema_problems, write_schemas
from services.settings import Settings


def schemas(
    out: Annotated[
        Path, typer.Option(help="Directory of the schema files (in the repository: infra/schemas).")
    ] = SCHEMA_DIRECTORY,
    check: Annotated[
        bool, typer.Option(help="Change nothing; exit 1 if the files differ from the code.")
    ] = False,
) -> None:
    """Generate the JSON Schema of every event's Kafka value (CAREPLAN_SCHEMA_BASE_URI)."""
    base_uri = Settings().schema_base_uri
    if check:
        problems = schema_problems(out, base_uri)
        for problem in problems:
            typer.echo(problem, err=True)
        if problems:
            typer.echo("Run `careplan schemas` to regenerate them.", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out}: the schemas match the code")
        return
    written = write_schemas(out, base_uri)
    for name in written:
        typer.echo(f"wrote {out / name}")
    typer.echo(f"{len(written)} schema files written" if written else "all schemas were current")
