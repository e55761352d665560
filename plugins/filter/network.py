# -*- coding: utf-8 -*-
# Copyright: kubevirt_net.core contributors
# Apache License 2.0 (see LICENSE)
"""Address filters over NetworkAttachmentDefinitions (netaddr), sharing the
kubevirt_network module's reading of CNI IPAM."""


from ansible.errors import AnsibleFilterError

from ansible_collections.kubevirt_net.core.plugins.module_utils import cni

try:
    import netaddr
except ImportError:  # pragma: no cover
    netaddr = None


def _pools(network):
    """IPSet from a NAD (dict), its CNI config (dict or JSON string) or a CIDR / 'a-b' range string."""
    if netaddr is None:
        raise AnsibleFilterError("the netaddr Python library is required by kubevirt_net.core filters")
    if isinstance(network, dict) and "spec" in network:
        network = (network.get("spec") or {}).get("config")
    if isinstance(network, str):
        parsed = cni.parse(network)
        if parsed is None:
            try:
                if "-" in network:
                    first, last = network.split("-", 1)
                    return netaddr.IPSet(netaddr.IPRange(first.strip(), last.strip()))
                return netaddr.IPSet([netaddr.IPNetwork(network)])
            except (netaddr.AddrFormatError, ValueError) as exc:
                raise AnsibleFilterError("%r is neither a CNI config, a CIDR nor an address range: %s" % (network, exc))
        network = parsed
    if not isinstance(network, dict):
        raise AnsibleFilterError("expected a NetworkAttachmentDefinition, a CNI config, a CIDR or a range, got %r"
                                 % type(network).__name__)
    return cni.address_pools(network)


def ip_in_range(address, network):
    """True when ``address`` is one the network hands out."""
    try:
        return netaddr.IPAddress(str(address).split("/", 1)[0]) in _pools(network)
    except (netaddr.AddrFormatError, ValueError) as exc:
        raise AnsibleFilterError("%r is not an IP address: %s" % (address, exc))


def next_free_ip(network, used=None):
    """The first address of the network not in ``used`` (IPs, or VMI
    ``status.interfaces`` entries with ipAddress/ipAddresses); None when full."""
    taken = netaddr.IPSet()
    for item in used or []:
        if isinstance(item, dict):
            values = list(item.get("ipAddresses") or []) + ([item["ipAddress"]] if item.get("ipAddress") else [])
        else:
            values = [item]
        for value in values:
            try:
                taken.add(netaddr.IPAddress(str(value).split("/", 1)[0]))
            except (netaddr.AddrFormatError, ValueError) as exc:
                raise AnsibleFilterError("used: %r is not an IP address: %s" % (value, exc))
    free = _pools(network) - taken
    for rng in free.iter_ipranges():
        return str(rng[0])
    return None


class FilterModule:
    def filters(self):
        return {"ip_in_range": ip_in_range, "next_free_ip": next_free_ip}
