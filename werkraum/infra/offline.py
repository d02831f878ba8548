"""Running a Pulumi program offline with `pulumi.runtime.set_mocks`: an offline plan.

No engine, provider or cloud is involved: the program runs as it would under
`pulumi preview`, and every resource it declares is recorded with its type,
name, inputs (camelCased, as providers receive them) and options. Provider
defaults and computed values are not known; ids are made up. This shows what a
stack declares, not what a cloud would do with it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

import pulumi

# What an offline plan records for a value only a provider knows (a Keycloak client's secret).
COMPUTED = "(computed when applied)"
# How the mock monitor hands a secret input over: a signature key beside its value.
_SECRET_SIG = "4dabf18193072939515e22adb298388d"


def plain_numbers(value: Any) -> Any:
    """Floats that are whole numbers back to ints (the mock monitor turns numbers into floats); values
    not known before a provider runs as ``COMPUTED``; a secret as its value."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, pulumi.output.Unknown):
        return COMPUTED
    if isinstance(value, dict) and value.get(_SECRET_SIG) and "value" in value:
        return plain_numbers(value["value"])
    if isinstance(value, dict):
        return {k: plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_numbers(v) for v in value]
    return value


# The type prefix of Python dynamic resources (the Keycloak objects, werkraum/infra/keycloak.py).
DYNAMIC_PREFIX = "pulumi-python:dynamic"


@dataclass
class Recorded:
    type: str
    name: str
    inputs: dict[str, Any]
    protect: bool = False
    custom: bool = True

    @property
    def declared(self) -> dict[str, Any]:
        """The inputs without those computed when applied (what a schema can check offline)."""

        def drop(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: drop(v) for k, v in value.items() if v != COMPUTED}
            return [drop(v) for v in value if v != COMPUTED] if isinstance(value, list) else value

        return dict(drop(self.inputs))

    @property
    def is_kubernetes(self) -> bool:
        return self.type.startswith("kubernetes:")


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Records each resource; answers data-source calls and stack references with fixed values."""

    stack_outputs: dict[str, Any] = field(default_factory=dict)
    resources: list[Recorded] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            return f"{args.name}-id", {**args.inputs, "outputs": self.stack_outputs}
        inputs = dict(args.inputs)
        dynamic = args.typ.startswith(DYNAMIC_PREFIX)
        if dynamic:  # not the pickled provider, nor the Keycloak administrator's password
            inputs = {k: v for k, v in inputs.items() if k not in ("__provider", "admin_password")}
        self.resources.append(Recorded(args.typ, args.name, plain_numbers(inputs), custom=bool(args.custom)))
        state = dict(args.inputs)
        if dynamic:  # what only the provider knows after a create (a client's secret, a group's id)
            state = {k: COMPUTED if v is None else v for k, v in state.items()}
        if args.typ.startswith("kubernetes:") and "metadata" in state:
            state["metadata"] = {"name": args.name, **state["metadata"]}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        name = str(args.args.get("name", "x"))
        return {**args.args, "id": f"{args.token.rsplit(':', 1)[-1].lower()}-{name}"}, []


@dataclass
class OfflinePlan:
    project: str
    stack: str
    resources: list[Recorded]
    outputs: dict[str, Any]

    def by_type(self, suffix: str) -> list[Recorded]:
        return [r for r in self.resources if r.type.endswith(suffix)]


def run_offline(
    program: Callable[[], Any],
    *,
    project: str,
    stack: str,
    config: dict[str, Any],
    stack_outputs: dict[str, Any] | None = None,
    outputs: Callable[[Any], dict[str, Any]] | None = None,
    mocks: RecordingMocks | None = None,
) -> OfflinePlan:
    """Run ``program`` under mocks with ``config`` (as in a stack file) and return what it declared.

    ``mocks`` replaces the recording mocks (the end-to-end run passes mocks that apply
    OpenStack resources to the lab cloud); ``stack_outputs`` then sets its stack outputs.
    """
    mocks = mocks or RecordingMocks()
    mocks.stack_outputs = dict(stack_outputs or {})
    # The root Stack resource that set_mocks creates belongs to the current loop.
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=True)
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    result: dict[str, Any] = {}

    protected: set[str] = set()

    def note_protect(args: pulumi.ResourceTransformationArgs) -> None:
        if args.opts is not None and args.opts.protect:
            protected.add(args.name)

    def body() -> None:
        pulumi.runtime.register_stack_transformation(note_protect)
        component = program()
        if outputs is not None:
            resolved: dict[str, Any] | None = _sync_await(pulumi.Output.from_input(outputs(component)).future())
            result.update(resolved or {})

    _sync_await(run_pulumi_func(body))
    for r in mocks.resources:
        r.protect = r.name in protected
    return OfflinePlan(project, stack, mocks.resources, plain_numbers(result))
