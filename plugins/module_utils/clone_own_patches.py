# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""KubeVirt's own clone patches checked against its restore webhook (issue 18).

pkg/virt-controller/watch/clone/vm-target.go generatePatches writes the patches for
``newMacAddresses``, ``newSMBiosSerial``, the label/annotation filters and the firmware UUID with
plain ``json.Marshal``: nothing in them is escaped, so a value with ':' or ',' makes
pkg/storage/admitters/vmrestore.go validatePatches refuse the restore, and the clone stays in
RestoreInProgress for ever.  The module's own patches are made to pass (clone.encode_patch);
these cannot be, so what would produce them is refused before any write.
"""

import json
from typing import Any, Dict, Tuple

from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.clone import (
    WEBHOOK, Op, kubevirt_patches, restore_webhook_causes)
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems


def go_marshal(op: Op) -> str:
    """One of KubeVirt's own patches as vm-target.go generateStringPatchOperations writes it: Go's
    ``json.Marshal`` of a ``patch.PatchOperation`` value (pkg/apimachinery/patch/patch.go; compact, ``op``,
    ``path``, ``value``; ':' and ',' inside strings stay as they are, unlike ``encode_patch``)."""
    return json.dumps({"op": op.get("op"), "path": op.get("path"), "value": op.get("value")},
                      separators=(",", ":"), ensure_ascii=False)


def _kubevirt_patch_option(op: Op, source: Dict[str, Any]) -> Tuple[str, str]:
    """The option a patch of KubeVirt's own comes from, and how to avoid the refusal."""
    path = str(op.get("path"))
    if path.endswith("/macAddress"):
        ifaces = vmspec.interfaces_of(source)
        idx = int(path.split("/")[-2])
        name = ifaces[idx].get("name") if idx < len(ifaces) else idx
        return "new_mac_addresses.%s" % name, "give the MAC in dash form, e.g. 02-00-00-aa-00-01"
    if path.endswith("/firmware/serial"):
        return "new_smbios_serial", "use a serial without ':' and ','"
    for prefix, field in (("/metadata/labels/", "label_filters"), ("/metadata/annotations/", "annotation_filters"),
                          ("/spec/template/metadata/labels/", "template_label_filters"),
                          ("/spec/template/metadata/annotations/", "template_annotation_filters")):
        if path.startswith(prefix):
            return field, "keep that key (the filters decide what KubeVirt removes)"
    return "source", "change the source VM"


def check(problems: Problems, where: str, source: Dict[str, Any], opts: Dict[str, Any]) -> None:
    """KubeVirt's own patches (what the clone controller emits from ``newMacAddresses``,
    ``newSMBiosSerial``, the filters and the firmware UUID: ``kubevirt_patches``) as
    generateStringPatchOperations writes them, checked with the port of validatePatches: KubeVirt
    does not escape ':' or ',' in them, so e.g. a serial ``a:b`` makes the restore webhook refuse
    the restore and the clone stays in RestoreInProgress for ever.  ``opts`` are the options sent
    to KubeVirt (``new_mac_addresses`` as in the clone's spec)."""
    for op in kubevirt_patches(source, opts):
        text = go_marshal(op)
        causes = restore_webhook_causes(text)
        if causes:
            field, fix = _kubevirt_patch_option(op, source)
            problems.add(where, field, "KubeVirt's clone controller writes the restore patch %s itself "
                         "(pkg/virt-controller/watch/clone/vm-target.go, json.Marshal, nothing escaped) and %s "
                         "refuses it (%s): the clone would stay in RestoreInProgress for ever; %s"
                         % (text, WEBHOOK, "; ".join(causes), fix))
