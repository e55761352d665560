# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Which differences of a VM's network declaration KubeVirt applies to a
running VM live (hot-plug, hot-unplug, a NAD reference swap) and which wait
for a restart, and whether a VM is still to start."""


import copy
from typing import Any, Dict, List, Optional

from ansible_collections.kubevirt_net.core.plugins.module_utils import hotplug, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.kubevirt import KubeVirtInfo
from ansible_collections.kubevirt_net.core.plugins.module_utils.vm_network import (
    ALL_BINDING_KEYS, DNS_FIELDS, Desired, pod_source, template_of, typed_binding)


class LivePlan:
    """How a running VM gets from its template to the desired one."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []  # kubevirt_iface_hotplug requests (plug, unplug, swap)
        self.nonlive: List[str] = []   # what KubeVirt applies only after a restart, and asks for (RestartRequired)
        self.deferred: List[str] = []  # added interfaces KubeVirt cannot hot-plug: attached at the next start, no request
        self.final: Optional[Desired] = None  # the template once both steps are done


def _is_multus_secondary(network: Optional[Dict[str, Any]]) -> bool:
    if not network:
        return False
    return "multus" in network and not vmspec.is_primary(network)


def _live_fields(iface: Dict[str, Any]) -> Dict[str, Any]:
    """The interface fields a plug request carries beyond hot-plug's own options."""
    return dict((k, v) for k, v in iface.items()
                if k not in ("name", "model", "macAddress", "pciAddress") + ALL_BINDING_KEYS)


def plan_running(vm: Dict[str, Any], want: Desired, kv: Optional[KubeVirtInfo]) -> LivePlan:
    """Split the change for a running VM the way KubeVirt 1.9 treats it
    (pkg/network/controllers/vm.go, pkg/network/vmliveupdate/restart.go):
    what it does live (NIC hot-plug, hot-unplug of bridge NICs, network swap)
    is returned as hot-plug requests; changed or removed existing interfaces
    and networks, a new pod network and every other template field are
    ``nonlive`` (RestartRequired); other added interfaces are ``deferred``
    (attached at the next start, without RestartRequired).  ``final`` is the
    template after both steps (unplugged NICs stay with ``state: absent``
    until KubeVirt removes them)."""
    plan = LivePlan()
    cur_ifaces, cur_networks = vmspec.interfaces_of(vm), vmspec.networks_of(vm)
    hotplug_ok = kv is None or kv.at_least(1, 4)
    swap_ok = kv is None or kv.gate_enabled("LiveUpdateNADRef")
    implicit = not cur_ifaces and not cur_networks and hotplug.template_autoattach(vm)
    kept = []  # unplugged entries that stay in the template: (index in current, iface, network)
    for index, iface in enumerate(cur_ifaces):
        name = iface.get("name")
        network = vmspec.find(cur_networks, name)[1]
        if vmspec.find(want.ifaces, name)[1] is not None:
            continue
        if iface.get("state") == "absent":
            kept.append((index, iface, network))
            continue
        if hotplug_ok and vmspec.binding_of(iface) in vmspec.UNPLUG_BINDINGS and _is_multus_secondary(network):
            plan.requests.append({"interface": name, "state": "absent"})
            kept.append((index, dict(iface, state="absent"), network))
        else:
            plan.nonlive.append("remove interface %s (%s)" % (name, typed_binding(iface)))
    for iface in want.ifaces:
        name = iface.get("name")
        network = vmspec.find(want.networks, name)[1]
        current_iface = vmspec.find(cur_ifaces, name)[1]
        current_network = vmspec.find(cur_networks, name)[1]
        binding = vmspec.binding_of(iface)
        if current_iface is None:
            if (hotplug_ok and not implicit and binding in vmspec.HOTPLUG_BINDINGS and network is not None
                    and _is_multus_secondary(network) and current_network is None):
                req = {"interface": name, "network": network["multus"]["networkName"], "binding": binding,
                       "model": iface.get("model"), "mac_address": iface.get("macAddress"),
                       "pci_address": iface.get("pciAddress"), "state": "present"}
                extra = _live_fields(iface)
                if extra:
                    req["fields"] = extra
                plan.requests.append(req)
            elif network is not None and "pod" in network and pod_source(cur_networks) is None:
                plan.nonlive.append("add interface %s (%s) on the pod network" % (name, typed_binding(iface)))
            else:
                plan.deferred.append("add interface %s (%s)" % (name, typed_binding(iface)))
            continue
        if current_iface == iface and current_network == network:
            continue
        if (current_iface == iface and swap_ok and hotplug_ok and binding in vmspec.HOTPLUG_BINDINGS
                and current_network is not None and _is_multus_secondary(current_network)
                and network is not None and _is_multus_secondary(network)
                and _without_ref(current_network) == _without_ref(network)):
            plan.requests.append({"interface": name, "network": network["multus"]["networkName"],
                                  "binding": binding, "model": iface.get("model"),
                                  "mac_address": iface.get("macAddress"), "state": "present"})
            continue
        plan.nonlive.append("change interface %s" % name)
    final_ifaces, final_networks = copy.deepcopy(want.ifaces), copy.deepcopy(want.networks)
    for index, iface, network in kept:
        before = [i.get("name") for i in cur_ifaces[:index]]
        position = 0
        for pos, entry in enumerate(final_ifaces):
            if entry.get("name") in before:
                position = pos + 1
        final_ifaces.insert(position, copy.deepcopy(iface))
        if network is not None:
            n_before = [n.get("name") for n in final_networks if n.get("name") in before]
            n_position = 0
            for pos, entry in enumerate(final_networks):
                if entry.get("name") in n_before:
                    n_position = pos + 1
            final_networks.insert(n_position, copy.deepcopy(network))
    plan.final = Desired(final_ifaces, final_networks, copy.deepcopy(want.fields), want.notes)
    spec = template_of(vm)
    order_now = [i.get("name") for i in cur_ifaces if vmspec.find(final_ifaces, i.get("name"))[1] is not None]
    order_then = [i.get("name") for i in final_ifaces if vmspec.find(cur_ifaces, i.get("name"))[1] is not None]
    if order_now != order_then:
        plan.nonlive.append("reorder interfaces")
    for _typed, field in DNS_FIELDS:
        if spec.get(field) != want.fields.get(field):
            plan.nonlive.append("set %s" % field if want.fields.get(field) is not None else "remove %s" % field)
    if pod_source(cur_networks) != pod_source(want.networks) and pod_source(cur_networks) is not None \
            and pod_source(want.networks) is not None:
        plan.nonlive.append("change the pod network CIDR")
    return plan


def pending_start(vm: Dict[str, Any], vmi: Optional[Dict[str, Any]]) -> List[str]:
    """Interfaces of the VM template the running VMI does not have (added
    without hot-plug): they exist only after the next start."""
    if vmi is None:
        return []
    current = [i.get("name") for i in (((vmi.get("spec") or {}).get("domain") or {}).get("devices") or {}).get(
        "interfaces") or []]
    return [i["name"] for i in vmspec.interfaces_of(vm)
            if i.get("name") and i.get("state") != "absent" and i["name"] not in current]


def _without_ref(network: Dict[str, Any]) -> Dict[str, Any]:
    network = copy.deepcopy(network)
    network["multus"].pop("networkName", None)
    return network
