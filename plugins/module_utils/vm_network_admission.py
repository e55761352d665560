# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""KubeVirt's VM admission rules for the network part of a template, checked
before any write so a task fails with every problem at once, naming the field
and the fix, instead of getting the webhook's first ten causes back.

Mirrors KubeVirt v1.9.0 ``pkg/network/admitter`` (netsource, netiface,
binding, passt, admit) as the VM webhook runs it on ``spec.template.spec``,
plus the version and feature-gate rules of the fields this collection writes
(passtBinding 1.8+, binding plugins 1.1+ / GA 1.5, link state 1.5+) and the
cluster settings (permitBridgeInterfaceOnPodNetwork, registered binding
plugins, which KubeVirt only checks when the VM starts).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubevirt_net.core.plugins.module_utils import vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import DNS1123_LABEL, DNS1123_SUBDOMAIN, MAC

FIELD = "spec.template.spec"
STATES = ("", "up", "down", "absent")
RESERVED_MASQUERADE_MAC = "02:00:00:00:00:00"


def _ifaces(spec):
    return ((spec.get("domain") or {}).get("devices") or {}).get("interfaces") or []


def _iface_path(idx, *names):
    return ".".join(("%s.domain.devices.interfaces[%d]" % (FIELD, idx),) + names)


def _net_path(idx, *names):
    return ".".join(("%s.networks[%d]" % (FIELD, idx),) + names)


def _primary(networks):
    for net in networks:
        if vmspec.is_primary(net):
            return net
    return None


def check(problems, where, spec, kv, changed_names=None):
    """Add a problem for every KubeVirt admission rule ``spec`` breaks.

    ``kv``: KubeVirtInfo (version, gates, network configuration).
    ``changed_names``: interfaces this task adds or changes; the cluster-state
    rules (registered plugins, permitted bridge) are applied to those only, as
    KubeVirt applies them when a VMI starts, not to VMs already running."""
    networks = spec.get("networks") or []
    ifaces = _ifaces(spec)
    by_name = dict((n.get("name"), n) for n in networks)
    network_config = kv.configuration.get("network") or {} if kv is not None else {}
    changed = set(changed_names if changed_names is not None else [i.get("name") for i in ifaces])

    # netsource.go
    pods = [n for n in networks if "pod" in n]
    defaults = [n for n in networks if (n.get("multus") or {}).get("default")]
    if len(pods) > 1:
        problems.add(where, FIELD + ".networks", "more than one network is the pod network (%s); keep one"
                     % ", ".join(n.get("name", "") for n in pods))
    if len(defaults) > 1:
        problems.add(where, FIELD + ".networks", "Multus CNI should only have one default network (%s)"
                     % ", ".join(n.get("name", "") for n in defaults))
    if pods and defaults:
        problems.add(where, FIELD + ".networks", "Pod network cannot be defined when Multus default network is "
                     "defined: drop the pod network or multus_default")
    for idx, net in enumerate(networks):
        count = sum(1 for key in ("pod", "multus", "resourceClaim") if key in net)
        if count != 1:
            problems.add(where, _net_path(idx), "should have %s network type" % ("a" if count == 0 else "only one"))
        if "multus" in net and not (net.get("multus") or {}).get("networkName"):
            problems.add(where, _net_path(idx, "multus.networkName"), "CNI delegating plugin must have a networkName")

    # netiface.go: names unique, 1:1
    seen = set()
    for idx, net in enumerate(networks):
        if net.get("name") in seen:
            problems.add(where, _net_path(idx, "name"), "network %r is declared twice" % net.get("name"))
        seen.add(net.get("name"))
    iface_names = set()
    for idx, iface in enumerate(ifaces):
        if iface.get("name") in iface_names:
            problems.add(where, _iface_path(idx, "name"), "Only one interface can be connected to one specific "
                         "network (%r is declared twice)" % iface.get("name"))
        iface_names.add(iface.get("name"))
        if iface.get("name") not in by_name:
            problems.add(where, _iface_path(idx, "name"), "interface %r has no network of that name: add it to "
                         "networks (or give the interface a 'network')" % iface.get("name"))
    for idx, net in enumerate(networks):
        if net.get("name") not in iface_names:
            problems.add(where, _net_path(idx, "name"), "network %r has no interface of that name: KubeVirt "
                         "refuses networks without an interface (delete it or add the interface)" % net.get("name"))

    primary = _primary(networks)
    for idx, iface in enumerate(ifaces):
        name = iface.get("name", "")
        net = by_name.get(name) or {}
        on_pod = "pod" in net
        keys = [k for k in vmspec.BINDINGS if k in iface]
        binding = vmspec.binding_of(iface)
        # binding.go / passt.go
        removed = [k for k in vmspec.REMOVED_BINDINGS if k in iface]
        if len(keys) != 1 and not (removed and not keys):
            problems.add(where, _iface_path(idx), "logical %s interface must have exactly one binding method or "
                         "binding plugin" % name)
        if binding == "masquerade" and not on_pod:
            problems.add(where, _iface_path(idx, "masquerade"), "Masquerade interface only implemented with pod "
                         "network: use bridge (or sriov) on a Multus network")
        if binding == "masquerade" and vmspec.normal_mac(iface.get("macAddress") or "") == RESERVED_MASQUERADE_MAC:
            problems.add(where, _iface_path(idx, "macAddress"), "The requested MAC address is reserved for the "
                         "in-pod bridge. Please choose another one.")
        if binding == "passtBinding":
            if kv is not None and not kv.at_least(1, 8):
                problems.add(where, _iface_path(idx, "passtBinding"), "the core passt binding exists from KubeVirt "
                             "1.8; this cluster runs %s (use the passt binding plugin there)" % kv.version_text)
            elif kv is not None and not kv.gate_enabled("PasstBinding"):
                problems.add(where, _iface_path(idx, "passtBinding"), "PasstBinding feature gate is not enabled: add "
                             "it to spec.configuration.developerConfiguration.featureGates of the KubeVirt CR%s"
                             % (" (and remove it from disabledFeatureGates)" if "PasstBinding" in kv.disabled_gates
                                else ""))
            if not on_pod:
                problems.add(where, _iface_path(idx, "passtBinding"), "PasstBinding interface only implemented with "
                             "pod network")
        if binding == "bridge" and on_pod and name in changed and \
                network_config.get("permitBridgeInterfaceOnPodNetwork") is False:
            problems.add(where, _iface_path(idx, "bridge"), "Bridge on pod network configuration is not enabled under "
                         "kubevirt-config (permitBridgeInterfaceOnPodNetwork: false): use masquerade, or allow it "
                         "with kubevirt_binding_plugin permit_bridge_interface_on_pod_network=true")
        if binding == "binding":
            plugin = (iface.get("binding") or {}).get("name")
            if kv is not None and not kv.at_least(1, 1):
                problems.add(where, _iface_path(idx, "binding"), "network binding plugins exist from KubeVirt 1.1")
            elif kv is not None and not kv.gate_enabled("NetworkBindingPlugins"):
                problems.add(where, _iface_path(idx, "binding"), "binding plugins need the NetworkBindingPlugins "
                             "feature gate before KubeVirt 1.5 (GA); enable it in the KubeVirt CR")
            if kv is not None and name in changed and plugin not in kv.binding_plugins:
                problems.add(where, _iface_path(idx, "binding.name"), "binding plugin %r is not registered in the "
                             "KubeVirt CR (spec.configuration.network.binding has: %s); the VM would not start. "
                             "Register it with kubevirt_net.core.kubevirt_binding_plugin"
                             % (plugin, ", ".join(sorted(kv.binding_plugins)) or "none"))
        for key in removed if name in changed else []:
            problems.add(where, _iface_path(idx, key), "the %s binding was removed in KubeVirt 1.3; use the %s "
                         "instead" % (key, "core passt binding" if key == "passt" else "%s binding plugin" % key))
        # admit.go: interface state
        state = iface.get("state") or ""
        if state not in STATES:
            problems.add(where, _iface_path(idx, "state"), "logical %s interface state value is unsupported: %s"
                         % (name, state))
        if state in ("up", "down"):
            if binding == "sriov":
                problems.add(where, _iface_path(idx, "state"), "%r interface's state %r is not supported for SR-IOV "
                             "NICs" % (name, state))
            if kv is not None and not kv.at_least(1, 5) and name in changed:
                problems.add(where, _iface_path(idx, "state"), "interface link state exists from KubeVirt 1.5; this "
                             "cluster runs %s" % kv.version_text)
        if state == "absent":
            if binding != "bridge":
                problems.add(where, _iface_path(idx, "state"), "%r interface's state \"absent\" is supported only for "
                             "bridge binding" % name)
            if primary is not None and primary.get("name") == name:
                problems.add(where, _iface_path(idx, "state"), "%r interface's state \"absent\" is not supported on "
                             "default networks" % name)
        # netiface.go: fields
        if iface.get("pciAddress") and not vmspec.PCI_ADDRESS.match(iface["pciAddress"]):
            problems.add(where, _iface_path(idx, "pciAddress"), "interface %s has malformed PCI address (%s)."
                         % (name, iface["pciAddress"]))
        if iface.get("model") and iface["model"] not in vmspec.MODELS:
            problems.add(where, _iface_path(idx, "model"), "interface %s uses model %s that is not supported."
                         % (name, iface["model"]))
        if iface.get("macAddress") and not MAC.match(str(iface["macAddress"])):
            problems.add(where, _iface_path(idx, "macAddress"), "interface %s has malformed MAC address (%s)."
                         % (name, iface["macAddress"]))
        if on_pod and iface.get("ports") is not None:
            for pidx, port in enumerate(iface["ports"]):
                number = port.get("port") or 0
                if not 0 < number < 65536:
                    problems.add(where, _iface_path(idx, "ports[%d].port" % pidx), "Port field must be in range "
                                 "0 < x < 65536.")
                if port.get("protocol") not in (None, "", "TCP", "UDP"):
                    problems.add(where, _iface_path(idx, "ports[%d].protocol" % pidx), "Unknown protocol, only TCP "
                                 "or UDP allowed")
        if iface.get("portRanges") is not None and kv is not None and not kv.gate_enabled("PortRangesSpec"):
            problems.add(where, _iface_path(idx, "name"), "portRanges is specified on interface but the "
                         "PortRangesSpec feature gate is not enabled")
    return problems


def check_vm_fields(problems, where, spec):
    """The vms-admitter DNS rules (hostname a DNS label, subdomain a DNS subdomain)."""
    hostname, subdomain = spec.get("hostname"), spec.get("subdomain")
    if hostname and (len(hostname) > 63 or not DNS1123_LABEL.match(hostname)):
        problems.add(where, FIELD + ".hostname", "%s does not conform to the kubernetes DNS_LABEL rules" % hostname)
    if subdomain and (len(subdomain) > 253 or not DNS1123_SUBDOMAIN.match(subdomain)):
        problems.add(where, FIELD + ".subdomain", "%s does not conform to the kubernetes DNS_SUBDOMAIN rules"
                     % subdomain)
    return problems
