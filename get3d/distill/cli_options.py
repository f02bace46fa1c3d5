"""The rules' options as CLI flags, shared by ``get3d refine`` and ``get3d distill-2d`` (torch-free).

One flag per field of get3d.distill.options' SDSOptions / ISMOptions / SDIOptions, named
``--<rule>-<field>`` (``--sds-t-min``, ``--ism-delta-t``, ``--sdi-inversion uniform``), its help
from the field's metadata and its default shown as the rule's (the flag itself defaults to unset,
so only what the user gives reaches the rule). :func:`collect_rule_options` turns the parsed values
into ``{rule: {field: value}}`` and refuses a flag for a rule that is not run.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable

import click

from get3d.distill.options import RULE_OPTIONS
from get3d.errors import Get3dError

__all__ = ["rule_option_flags", "collect_rule_options", "RULE_FLAG_PARAMS"]


def _flag(rule: str, field: dataclasses.Field) -> tuple[str, str]:
    return f"--{rule}-{field.name.replace('_', '-')}", f"{rule}__{field.name}"


def _type(field: dataclasses.Field):
    choices = field.metadata.get("choices")
    if choices:
        return click.Choice(list(choices))
    default = field.default
    return {bool: bool, int: int, float: float}.get(type(default), float if default is None else str)


RULE_FLAG_PARAMS = [_flag(rule, f)[1] for rule, kind in RULE_OPTIONS.items() for f in dataclasses.fields(kind)]


def rule_option_flags(fn):
    """Click decorator adding every rule option flag (see the module docstring)."""
    for rule, kind in reversed(list(RULE_OPTIONS.items())):
        for field in reversed(dataclasses.fields(kind)):
            flag, dest = _flag(rule, field)
            default = "none" if field.default is None else field.default
            help_text = f"{rule.upper()}: {field.metadata.get('help', '')} [default: {default}]"
            fn = click.option(flag, dest, default=None, type=_type(field), help=help_text)(fn)
    return fn


def collect_rule_options(values: dict, rules: Iterable[str], guidance=None) -> dict:
    """Parsed flag values (``rule__field`` keys, None = not given) -> {rule: {field: value}} for
    ``rules``; ``guidance`` (``--guidance``) sets every run rule's guidance_scale."""
    rules = list(rules)
    out = {rule: {} for rule in rules}
    for key, value in values.items():
        if value is None or "__" not in key:
            continue
        rule, name = key.split("__", 1)
        if rule not in out:
            raise Get3dError(f"rule_options[{rule!r}][{name!r}] (--{rule}-{name.replace('_', '-')}) applies to rule "
                             f"{rule}, which is not run (rules (--rule): {','.join(rules)})")
        out[rule][name] = value
    if guidance is not None:
        for rule in rules:
            if "guidance_scale" in out[rule]:
                raise Get3dError(f"guidance (--guidance) and rule_options[{rule!r}]['guidance_scale'] "
                                 f"(--{rule}-guidance-scale) both set {rule}'s guidance; give one")
            out[rule]["guidance_scale"] = guidance
    return out
