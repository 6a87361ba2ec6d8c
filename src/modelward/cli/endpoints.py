"""``modelward endpoints``: create, update, show, list and delete gateway endpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from modelward.cli.output import duration, print_json, print_table, say
from modelward.cli.session import session_from_cli
from modelward.errors import InputError

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
SpecArg = Annotated[
    Path, typer.Argument(help="Endpoint definition, YAML or JSON (see docs/serving.md).")
]


def _read_spec(path: Path) -> dict[str, Any]:
    from modelward.cli.files import read_definition

    data = read_definition(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of endpoint fields", file=str(path))
    return data


@app.command("create")
def create_cmd(spec: SpecArg, json_out: JsonOpt = False) -> None:
    """Create an endpoint from a definition file (audited)."""
    from modelward.security import principal_for_cli
    from modelward.serving import create_endpoint, parse_spec

    parsed = parse_spec(_read_spec(spec))
    with session_from_cli() as session:
        endpoint = create_endpoint(session, principal_for_cli(session), parsed)
    if json_out:
        print_json(endpoint.to_dict())
    else:
        say("[green]created[/green] endpoint {} (config version 1)", endpoint.name)


@app.command("update")
def update_cmd(
    spec: SpecArg,
    expected_version: Annotated[
        int | None,
        typer.Option("--expected-version", help="Refuse if the endpoint changed since this."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Replace an endpoint's definition; running gateways pick it up without a restart."""
    from modelward.security import principal_for_cli
    from modelward.serving import parse_spec, update_endpoint

    parsed = parse_spec(_read_spec(spec))
    with session_from_cli() as session:
        endpoint = update_endpoint(
            session, principal_for_cli(session), parsed, expected_version=expected_version
        )
    if json_out:
        print_json(endpoint.to_dict())
    else:
        say(
            "[green]updated[/green] endpoint {} (config version {})",
            endpoint.name,
            endpoint.config_version,
        )


@app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="Endpoint name.")], json_out: JsonOpt = False
) -> None:
    """An endpoint's definition and config version."""
    from modelward.serving import get_endpoint

    with session_from_cli() as session:
        endpoint = get_endpoint(session, name)
    if json_out:
        print_json(endpoint.to_dict())
        return
    spec = endpoint.spec
    say(
        "[bold]{}[/bold] -> {} (config version {}, updated by {} at {})",
        spec.name,
        spec.model,
        endpoint.config_version,
        endpoint.updated_by,
        f"{endpoint.updated_at:%Y-%m-%d %H:%M:%S}",
    )
    if isinstance(spec.request, str):  # from_signature: known once the model is loaded
        say("request: the model's MLflow signature ({})", spec.request)
    else:
        print_table(
            "request",
            ["field", "type", "entity key", "pii"],
            [
                (
                    f,
                    t,
                    "yes" if f in spec.entity_keys else "",
                    "yes" if f in spec.pii_fields else "",
                )
                for f, t in spec.request.items()
            ],
        )
    fallback = spec.fallback
    rows = [
        ("features", ", ".join(spec.features) or "-"),
        ("transforms", ", ".join(spec.transforms) or "-"),
        ("latency budget", duration(spec.latency_budget_ms / 1000)),
        ("fallback", (fallback.model or json.dumps(fallback.response)) if fallback else "-"),
        ("cache", duration(spec.cache_ttl_s) if spec.cache_ttl_s else "off"),
        ("batching", f"on, up to {spec.max_batch} rows" if spec.batching else "off"),
        ("callers", ", ".join(spec.callers) or "any authenticated identity"),
    ]
    print_table("settings", ["setting", "value"], rows)


@app.command("list")
def list_cmd(json_out: JsonOpt = False) -> None:
    """Every endpoint with its model and config version."""
    from modelward.serving import BrokenEndpoint, list_endpoints

    with session_from_cli() as session:
        found = list_endpoints(session)
    if json_out:
        print_json([e.to_dict() for e in found])
        return
    print_table(
        "endpoints",
        ["name", "model", "config version", "budget", "updated by", "updated at"],
        [
            (
                e.name,
                f"broken: {e.problem}" if isinstance(e, BrokenEndpoint) else e.spec.model,
                e.config_version,
                "-" if isinstance(e, BrokenEndpoint) else duration(e.spec.latency_budget_ms / 1000),
                e.updated_by,
                f"{e.updated_at:%Y-%m-%d %H:%M:%S}",
            )
            for e in found
        ],
    )
    broken = [e.name for e in found if isinstance(e, BrokenEndpoint)]
    if broken:
        say(
            "[yellow]{} endpoint(s) have an invalid stored definition and are not served: {}. "
            "Replace them with `modelward endpoints update` or remove them with "
            "`modelward endpoints delete`.[/yellow]",
            len(broken),
            ", ".join(broken),
        )


@app.command("delete")
def delete_cmd(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    expected_version: Annotated[
        int | None,
        typer.Option("--expected-version", help="Refuse if the endpoint changed since this."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove an endpoint (audited); running gateways stop serving it at their next refresh."""
    from modelward.security import principal_for_cli
    from modelward.serving import delete_endpoint

    with session_from_cli() as session:
        gone = delete_endpoint(
            session, principal_for_cli(session), name, expected_version=expected_version
        )
    if json_out:
        print_json(gone.to_dict())
    else:
        say(
            "[green]deleted[/green] endpoint {} (was at config version {})",
            gone.name,
            gone.config_version,
        )


@app.command("package")
def package_cmd(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write (new or empty).")],
    json_out: JsonOpt = False,
) -> None:
    """Write the endpoint as a deployable bundle: spec, model, feature definitions with
    hashes, a locked requirements file and a Containerfile; same inputs, same bundle id."""
    from modelward.serving import package_endpoint

    with session_from_cli() as session:
        bundle = package_endpoint(session, name, out)
    if json_out:
        print_json(bundle.to_dict())
        return
    state = "written" if bundle.created else "unchanged (the same bundle is there)"
    say("bundle {} of {} ({}) {} to {}", bundle.id, bundle.endpoint, bundle.version, state, out)


@app.command("serve-bundle")
def serve_bundle_cmd(
    directory: Annotated[Path, typer.Argument(help="A bundle folder (endpoints package).")],
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8700,
    state: Annotated[
        Path | None,
        typer.Option(help="Folder for the prediction log (default: DIR/../<name>-state)."),
    ] = None,
    isolated: Annotated[
        bool,
        typer.Option(
            "--isolated",
            help="Run the model in a worker process, from a virtualenv of the bundle's "
            "model/requirements.txt (built once under the state folder).",
        ),
    ] = False,
) -> None:
    """Serve a bundle without its workspace: POST /v1/endpoints/{name}/predict with the
    token in $MODELWARD_BUNDLE_TOKEN."""
    import os

    import uvicorn

    from modelward.serving import ENV_BUNDLE_TOKEN, HeaderDeadlineProtocol, read_bundle

    bundle = read_bundle(directory)  # refuse a changed bundle before binding anything
    if len(os.environ.get(ENV_BUNDLE_TOKEN, "")) < 16:
        raise InputError(
            f"{ENV_BUNDLE_TOKEN}: set it to the callers' token (16 characters or more)",
            field=ENV_BUNDLE_TOKEN,
        )
    folder = state or directory.resolve().parent / f"{directory.resolve().name}-state"
    os.environ["MODELWARD_BUNDLE_DIR"] = str(directory.resolve())
    os.environ["MODELWARD_BUNDLE_STATE"] = str(folder)
    os.environ["MODELWARD_BUNDLE_ISOLATED"] = "1" if isolated else "0"
    say("serving bundle {} ({}) on http://{}:{}", bundle.id[:19], bundle.version, host, port)
    uvicorn.run(
        "modelward.serving.bundle_server:bundle_app_from_environment",
        factory=True,
        host=host,
        port=port,
        http=HeaderDeadlineProtocol,
        lifespan="on",
        access_log=False,
        log_level="warning",
    )
