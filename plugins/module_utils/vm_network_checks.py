# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""The options of kubevirt_vm_network checked before any request: interface
and network names, bindings, ports, MAC and PCI addresses, DNS settings and
the pod network's CIDRs, each problem naming its option and the fix.
KubeVirt's own admission rules are in vm_network_admission.py."""


import ipaddress
import re
from typing import Any, Dict, Optional

from ansible_collections.kubevirt_net.core.plugins.module_utils import macaddr, vmspec
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import DNS1123_SUBDOMAIN, Problems
from ansible_collections.kubevirt_net.core.plugins.module_utils.vm_network import (
    API_BINDINGS, CIDR_FIELDS, DELETED, INTERFACE_NAME, MAX_NAMESERVERS, MAX_SEARCH_CHARS, MAX_SEARCHES, OVERRIDDEN,
    PLUGIN_PREFIX, POD, RENDERED, REPLACED, RESERVED_MASQUERADE_MAC, default_binding, port_name_problem)


def _is_ipv4(text: Any) -> bool:
    try:
        return ipaddress.ip_address(str(text)).version == 4
    except ValueError:
        return False


def check_network_ref(problems: Problems, where: str, value: Any) -> None:
    if value == POD:
        return
    parts = str(value).split("/")
    if len(parts) > 2 or not all(p and len(p) <= 253 and DNS1123_SUBDOMAIN.match(p) for p in parts):
        problems.add(where, "network", "%r is neither 'pod' nor a NetworkAttachmentDefinition reference: write "
                     "'pod', '<name>' or '<namespace>/<name>'" % (value,))


def check_binding(problems: Problems, where: str, value: str) -> None:
    if value in API_BINDINGS:
        return
    if value.startswith(PLUGIN_PREFIX) and re.match(r"^[A-Za-z0-9][-A-Za-z0-9_.]*$", value[len(PLUGIN_PREFIX):]):
        return
    problems.add(where, "binding", "%r is not a binding: use masquerade, bridge, sriov, passtBinding or "
                 "plugin:<name> for a registered network binding plugin" % (value,))


def check_interface(problems: Problems, index: int, cfg: Dict[str, Any], state: str) -> None:
    """Checks of one typed interface that need no cluster."""
    where = "config.interfaces[%d]" % index
    name = cfg.get("name")
    if not name or not INTERFACE_NAME.match(name) or len(name) > 63:
        problems.add(where, "name", "%r is not a valid interface name: use letters, digits, '-' and '_' (KubeVirt's "
                     "rule), at most 63, e.g. 'net1'" % (name,))
    if state == DELETED:
        return
    if cfg.get("network"):
        check_network_ref(problems, where, cfg["network"])
    elif state in (REPLACED, OVERRIDDEN, RENDERED):
        problems.add(where, "network", "is required with state=%s: write 'pod' for the pod network or the "
                     "NetworkAttachmentDefinition ('<name>' or '<namespace>/<name>')" % state)
    if cfg.get("multus_default") and cfg.get("network") == POD:
        problems.add(where, "multus_default", "applies to a Multus network only; the pod network is primary anyway")
    if cfg.get("binding"):
        check_binding(problems, where, cfg["binding"])
    binding = cfg.get("binding") or (default_binding(cfg.get("network")) if cfg.get("network") else None)
    if problems.mac(where, "mac_address", cfg.get("mac_address")) and cfg.get("mac_address") and \
            binding == "masquerade" and macaddr.canonical(cfg["mac_address"]) == RESERVED_MASQUERADE_MAC:
        problems.add(where, "mac_address", "%s is reserved for the in-pod bridge of masquerade; choose another MAC"
                     % cfg["mac_address"])
    if cfg.get("pci_address") and not vmspec.PCI_ADDRESS.match(cfg["pci_address"]):
        problems.add(where, "pci_address", "%r is not a PCI address: write it like '0000:81:00.1'"
                     % (cfg["pci_address"],))
    problems.int_range(where, "boot_order", cfg.get("boot_order"), 1, 2 ** 31 - 1)
    problems.int_range(where, "acpi_index", cfg.get("acpi_index"), 1, 16383, " (libvirt's ACPI index range)")
    if cfg.get("ports"):
        if binding in ("bridge", "sriov") or (binding or "").startswith(PLUGIN_PREFIX):
            problems.add(where, "ports", "only masquerade and passtBinding forward selected ports; with binding %s "
                         "the list would be ignored: drop ports or use masquerade/passtBinding" % binding)
        names = set()
        for pidx, port in enumerate(cfg["ports"]):
            problems.int_range(where, "ports[%d].port" % pidx, port.get("port"), 1, 65535)
            pname = port.get("name")
            if pname:
                problem = port_name_problem(pname)
                if problem:
                    problems.add(where, "ports[%d].name" % pidx, "%r %s (a Kubernetes port name)" % (pname, problem))
                elif pname in names:
                    problems.add(where, "ports[%d].name" % pidx, "%r is listed twice; port names are unique" % pname)
                names.add(pname)
    if cfg.get("link_state") and binding in ("sriov", "passtBinding"):
        problems.add(where, "link_state", "KubeVirt does not support a link state on %s interfaces; drop "
                     "link_state" % binding)
    dhcp = cfg.get("dhcp_options") or {}
    private = dhcp.get("private_options") or []
    if len(set(o.get("option") for o in private)) < len(private):
        problems.add(where, "dhcp_options.private_options", "lists an option number twice")
    for oidx, option in enumerate(private):
        problems.int_range(where, "dhcp_options.private_options[%d].option" % oidx, option.get("option"), 224, 254,
                           " (DHCP private options)")
    for nidx, server in enumerate(dhcp.get("ntp_servers") or []):
        if not _is_ipv4(server):
            problems.add(where, "dhcp_options.ntp_servers[%d]" % nidx, "%r is not an IPv4 address (KubeVirt's DHCP "
                         "server hands out IPv4 NTP servers only)" % (server,))


def check_config(problems: Problems, config: Optional[Dict[str, Any]], state: str) -> None:
    """Every check of the task's ``config`` that needs no cluster."""
    config = config or {}
    ifaces = config.get("interfaces") or []
    for index, cfg in enumerate(ifaces):
        check_interface(problems, index, cfg, state)
    names = [c.get("name") for c in ifaces]
    for name in sorted(set(n for n in names if names.count(n) > 1 and n)):
        problems.add("config.interfaces", "name", "%r is listed twice; interface names are unique" % name)
    if state != DELETED:
        pods = [c.get("name") for c in ifaces if c.get("network") == POD]
        if len(pods) > 1:
            problems.add("config.interfaces", "network", "%s all use the pod network; a VM has at most one pod "
                         "network" % ", ".join(pods))
        defaults = [c.get("name") for c in ifaces if c.get("multus_default")]
        if len(defaults) > 1 or (defaults and pods):
            problems.add("config.interfaces", "multus_default", "%s: a VM has one primary network, either the pod "
                         "network or one Multus default network" % ", ".join(pods + defaults))
        orders = [c.get("boot_order") for c in ifaces if c.get("boot_order") is not None]
        if len(set(orders)) < len(orders):
            problems.add("config.interfaces", "boot_order", "two interfaces have the same boot_order")
        check_dns(problems, config)
        for typed, _field, family in CIDR_FIELDS:
            value = config.get(typed)
            if value:
                try:
                    net = ipaddress.ip_network(str(value), strict=False)
                    ok = net.version == family
                except ValueError:
                    ok = False
                if not ok:
                    problems.add("config", typed, "%r is not an IPv%d CIDR such as %s" % (
                        value, family, "10.0.2.0/24" if family == 4 else "fd10:0:2::/120"))


def check_dns(problems: Problems, config: Dict[str, Any]) -> None:
    hostname, subdomain = config.get("hostname"), config.get("subdomain")
    if hostname and (len(hostname) > 63 or not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", hostname)):
        problems.add("config", "hostname", "%r is not a DNS label: at most 63 lowercase letters, digits and '-', "
                     "starting and ending with a letter or digit" % (hostname,))
    if subdomain and (len(subdomain) > 253 or not DNS1123_SUBDOMAIN.match(subdomain)):
        problems.add("config", "subdomain", "%r is not a DNS subdomain: lowercase letters, digits, '-' and '.'"
                     % (subdomain,))
    if subdomain and "." in subdomain:
        problems.add("config", "subdomain", "%r: the per-VM DNS record needs a headless Service named like the "
                     "subdomain, and Service names have no dots" % (subdomain,))
    dns = config.get("dns_config")
    if config.get("dns_policy") == "None" and not (dns and dns.get("nameservers")):
        problems.add("config", "dns_config", "is required with dns_policy=None and must list nameservers "
                     "(otherwise the guest gets no resolver)")
    if dns:
        servers = dns.get("nameservers") or []
        if len(servers) > MAX_NAMESERVERS:
            problems.add("config", "dns_config.nameservers", "lists %d servers; Kubernetes allows at most %d"
                         % (len(servers), MAX_NAMESERVERS))
        for sidx, server in enumerate(servers):
            try:
                ipaddress.ip_address(str(server))
            except ValueError:
                problems.add("config", "dns_config.nameservers[%d]" % sidx, "%r is not an IP address" % (server,))
        searches = dns.get("searches") or []
        if len(searches) > MAX_SEARCHES or len(" ".join(searches)) > MAX_SEARCH_CHARS:
            problems.add("config", "dns_config.searches", "Kubernetes allows at most %d search domains and %d "
                         "characters in all (1.28 and newer); drop some" % (MAX_SEARCHES, MAX_SEARCH_CHARS))
        for sidx, search in enumerate(searches):
            if not DNS1123_SUBDOMAIN.match(str(search).rstrip(".")):
                problems.add("config", "dns_config.searches[%d]" % sidx, "%r is not a DNS name" % (search,))
