"""Reading tenant files: YAML to model, with every problem located by field path and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from werkraum.tenants.model import (
    COLOR_RE,
    DOMAIN_RE,
    EMAIL_RE,
    LOGO_RE,
    SLUG_RE,
    WORKSPACE_RE,
    Problem,
    TenantSpec,
    plan_problems,
)

SPEC_KEY = "tenant:spec"
# Config keys a tenant stack may carry besides its spec.
TENANT_KEYS = {SPEC_KEY, "tenant:offboard", "tenant:platform_stack"}
PROVIDER_PREFIXES = ("openstack:", "kubernetes:", "pulumi:")
TOP_LEVEL = {"config", "encryptionsalt", "secretsprovider", "encryptedkey"}


def slug_of(path: Path) -> str:
    """stacks/Pulumi.<slug>.yaml -> slug."""
    name = path.name
    return name[len("Pulumi.") : -len(".yaml")] if name.startswith("Pulumi.") and name.endswith(".yaml") else ""


def stack_file(stacks_dir: Path, slug: str) -> Path:
    return stacks_dir / f"Pulumi.{slug}.yaml"


@dataclass
class TenantFile:
    path: Path
    slug: str
    display: str
    spec: TenantSpec | None = None
    config: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _root: yaml.Node | None = None

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.problems

    @property
    def offboard(self) -> bool:
        return bool(self.config.get("tenant:offboard", False))

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.display, path, message, self.line_of(path)))

    def line_of(self, path: str) -> int | None:
        """1-based line of `tenant:spec.a.b[2].c` in the file, or of its nearest existing parent."""
        node = self._root
        if node is None or not path:
            return None
        steps: list[str | int] = ["config"]
        for part in path.replace("]", "").split("."):
            name, *idx = part.split("[")
            steps.append(name)
            steps.extend(int(i) for i in idx)
        line = node.start_mark.line + 1
        for step in steps:
            child = None
            if isinstance(node, yaml.MappingNode) and isinstance(step, str):
                child = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
                key = next((k for k, v in node.value if getattr(k, "value", None) == step), None)
                if key is not None:
                    line = key.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                child = node.value[step]
                line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line


PATTERN_WORDS = {
    EMAIL_RE: "an e-mail address (name@example.com)",
    DOMAIN_RE: "a lower-case DNS name with a dot (ki.example.com)",
    COLOR_RE: "a colour as #RRGGBB (e.g. #1E40AF)",
    LOGO_RE: "a relative path to an .svg or .png file under stacks/ (logos/acme.svg)",
    WORKSPACE_RE: "a workspace name of lower-case letters, digits and '-' (data-team)",
}


def _loc(loc: tuple[int | str, ...]) -> str:
    out = SPEC_KEY
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _message(err: dict[str, Any]) -> str:  # noqa: PLR0911 - one answer per error kind
    kind, msg, value = str(err["type"]), str(err["msg"]), err.get("input")
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; docs/tenants.md lists every field)"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        allowed = msg.split("Input should be ", 1)[-1]
        return f"{value!r} is not allowed (allowed: {allowed})"
    if kind == "string_pattern_mismatch":
        pattern = str(err.get("ctx", {}).get("pattern", ""))
        return f"{value!r} is not {PATTERN_WORDS.get(pattern, 'of the expected form (' + pattern + ')')}"
    if kind == "too_short":
        return "must list at least one entry (an e-mail address: the tenant needs an admin)"
    if kind in ("int_type", "int_parsing"):
        return f"{value!r} is not a whole number"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return f"{msg} (got {value!r})" if value is not None and not isinstance(value, dict | list) else msg


def load_tenant_file(
    path: Path, *, stacks_dir: Path | None = None, display: str | None = None, slug: str | None = None
) -> TenantFile:
    """Parse and check one tenant file. Never raises for bad content: problems are collected."""
    stacks_dir = stacks_dir or path.parent
    tf = TenantFile(path=path, slug=slug or slug_of(path), display=display or str(path))
    if not SLUG_RE.match(tf.slug):
        tf.problem(
            "",
            f"the file name must be Pulumi.<slug>.yaml with a slug of 3–32 lower-case letters, digits "
            f"and '-', starting with a letter (got {path.name!r})",
        )
    try:
        text = path.read_text()
    except OSError as exc:
        tf.problem("", f"cannot read the file ({exc.strerror})")
        return tf
    try:
        tf._root = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        tf.problems.append(
            Problem(tf.display, "", f"not valid YAML: {getattr(exc, 'problem', exc)}", mark.line + 1 if mark else None)
        )
        return tf
    if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
        tf.problem("", "expected a Pulumi stack file with a top-level `config:` mapping")
        return tf
    for key in raw:
        if key not in TOP_LEVEL:
            tf.problems.append(Problem(tf.display, str(key), "unknown top-level key (allowed: config)", None))
    tf.config = raw["config"]
    for key in tf.config:
        if str(key).startswith("tenant:") and key not in TENANT_KEYS:
            tf.problem(str(key), f"unknown config key (tenant keys: {', '.join(sorted(TENANT_KEYS))})")
        elif not str(key).startswith(("tenant:", *PROVIDER_PREFIXES)):
            tf.problem(str(key), "unknown config key (allowed: tenant:*, openstack:*, kubernetes:*)")
    if "tenant:offboard" in tf.config and not isinstance(tf.config["tenant:offboard"], bool):
        tf.problem("tenant:offboard", "must be true or false")
    data = tf.config.get(SPEC_KEY)
    if data is None:
        tf.problem(SPEC_KEY, "required: the tenant's spec is missing")
        return tf
    try:
        spec = TenantSpec.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            tf.problem(_loc(err["loc"]), _message(dict(err)))
        return tf
    for where, message in plan_problems(spec):
        tf.problem(f"{SPEC_KEY}.{where}", message)
    if not (stacks_dir / spec.branding.logo).is_file():
        tf.problem(
            f"{SPEC_KEY}.branding.logo",
            f"{spec.branding.logo} does not exist under {stacks_dir} (put the logo there, SVG or PNG)",
        )
    tf.spec = spec
    return tf
