# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Errors in the words of the role that called the module.

A role such as ``network_policies`` passes its variables to a module option by
option (``label_namespaces: "{{ network_policies_label_namespaces }}"``).  When
the module refuses an input it names its own option (``task: label_namespaces:
...``), which the role's user never wrote.  The action plugin reads the task as
written (before templating), maps each option whose value is a template of one
variable to that variable, and renames the fields of a failure: the ``msg``
lines ``- <object>: <field>: ...`` and the ``problems`` entries.
"""


import re
from typing import Any, Dict, Mapping, Optional

_FIRST_VAR = re.compile(r"^\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*)")


def option_variables(raw_args: Optional[Mapping[str, Any]]) -> Dict[str, str]:
    """``{option: variable}`` for the options written as ``"{{ variable ... }}"``."""
    found = {}
    for option, value in (raw_args or {}).items():
        if isinstance(value, str):
            match = _FIRST_VAR.match(value)
            if match and match.group(1) != option:
                found[str(option)] = match.group(1)
    return found


def _rename_field(field: str, names: Mapping[str, str]) -> str:
    head = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)(.*)$", field, re.S)
    if head and head.group(1) in names:
        return names[head.group(1)] + head.group(2)
    return field


def rename_fields(result: Dict[str, Any], names: Mapping[str, str]) -> Dict[str, Any]:
    """``result`` with the module's option names in its failure replaced by the role's variables."""
    if not names or not result.get("failed"):
        return result
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    pattern = re.compile(r"^(- [^\n:]+: )(%s)(?=[.\[:])" % alternatives, re.M)
    if isinstance(result.get("msg"), str):
        result["msg"] = pattern.sub(lambda m: m.group(1) + names[m.group(2)], result["msg"])
    for entry in result.get("problems") or []:
        if isinstance(entry, dict) and isinstance(entry.get("field"), str):
            entry["field"] = _rename_field(entry["field"], names)
    return result


def raw_module_args(task_ds: Any, args: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """The module's arguments as written in the task (the dict under the module's key)."""
    if not isinstance(task_ds, Mapping):
        return None
    for value in task_ds.values():
        if isinstance(value, Mapping) and set(value) & set(args or {}):
            return value
    return None
