"""``VirtualMachineInstance.status.interfaces[]`` as virt-handler reports it
(``pkg/network/controllers`` / ``pkg/virt-handler`` network status: the
domain's interfaces, the guest agent's names and addresses, the pod's Multus
network-status), plus the MAC addresses the lab's "hypervisor" gives NICs.

Per interface: ``name``, ``mac``, ``ipAddress``/``ipAddresses``,
``interfaceName`` (in-guest ``eth<N>``, spec order; needs the guest agent),
``podInterfaceName`` (``eth0`` / ``pod<hash>``), ``infoSource``,
``queueCount``, ``linkState`` (from spec ``state``).  ``infoSource`` is
``domain, guest-agent`` on the primary network, ``domain, guest-agent,
multus-status`` on a fully attached secondary one, ``multus-status`` while a
hot-plugged (or unplugged) interface exists only in the pod.

MACs: the spec's ``macAddress`` when set (normalised to ``aa:bb:..``);
otherwise a locally administered ``02:..`` address (kubemacpool's default
range), derived from the VMI UID and interface name (stable for the VMI) and
unique in the lab.
"""

import hashlib
import threading

from . import net_spec

FULL_PRIMARY = "domain, guest-agent"
FULL_SECONDARY = "domain, guest-agent, multus-status"
POD_ONLY = net_spec.INFO_MULTUS


def normalize_mac(text):
    return text.replace("-", ":").lower()


class MacPool:
    """Lab-wide MAC registry: mac -> owner (``(vmi uid, interface name)``)."""

    def __init__(self):
        self._owner_by_mac = {}
        self._lock = threading.Lock()

    def mac_for(self, vmi_uid, iface):
        owner = (vmi_uid, iface["name"])
        if iface.get("macAddress"):
            mac = normalize_mac(iface["macAddress"])
            with self._lock:
                self._owner_by_mac.setdefault(mac, owner)
            return mac
        with self._lock:
            for mac, holder in self._owner_by_mac.items():
                if holder == owner:
                    return mac
            attempt = 0
            while True:
                digest = hashlib.sha256(("%s/%s/%d" % (vmi_uid, iface["name"], attempt)).encode()).digest()
                mac = "02:" + ":".join("%02x" % b for b in digest[:5])
                if mac not in self._owner_by_mac:
                    self._owner_by_mac[mac] = owner
                    return mac
                attempt += 1

    def release(self, vmi_uid):
        with self._lock:
            for mac in [m for m, owner in self._owner_by_mac.items() if owner[0] == vmi_uid]:
                del self._owner_by_mac[mac]


def pod_attachments(network_status):
    """Pod interface name -> Multus network-status entry."""
    return {entry.get("interface"): entry for entry in network_status or [] if entry.get("interface")}


def interface_status(index, iface, network, attachment, pod_ips, mac, info_source, previous=None):
    """One ``status.interfaces[]`` entry."""
    entry = {"name": iface["name"], "mac": mac, "infoSource": info_source,
             "podInterfaceName": net_spec.pod_interface_name(network), "queueCount": 1}
    ips = list(pod_ips) if net_spec.is_primary(network) else list((attachment or {}).get("ips") or [])
    if ips:
        entry["ipAddress"], entry["ipAddresses"] = ips[0], ips
    if net_spec.INFO_DOMAIN in info_source:
        entry["interfaceName"] = (previous or {}).get("interfaceName") or "eth%d" % index
        entry["linkState"] = "down" if iface.get("state") == "down" else "up"
    return entry


def full_statuses(vmi, pod_ips, network_status, macs):
    """Every interface the started (or migrated) domain has: the non-absent
    spec interfaces whose network the pod carries."""
    attached = pod_attachments(network_status)
    nets = net_spec.by_name(net_spec.networks(vmi.get("spec")))
    previous = net_spec.by_name((vmi.get("status") or {}).get("interfaces"))
    out = []
    for index, iface in enumerate(net_spec.interfaces(vmi.get("spec"))):
        network = nets.get(iface["name"])
        if network is None or iface.get("state") == net_spec.ABSENT:
            continue
        attachment = attached.get(net_spec.pod_interface_name(network))
        if net_spec.is_secondary_multus(network) and attachment is None:
            continue
        source = FULL_SECONDARY if net_spec.is_secondary_multus(network) else FULL_PRIMARY
        out.append(interface_status(index, iface, network, attachment, pod_ips,
                                    macs.mac_for(vmi["metadata"]["uid"], iface), source,
                                    previous.get(iface["name"])))
    return out


def next_hotplug_statuses(vmi, pod_ips, network_status, macs):
    """virt-handler's next observable step for hot-plug/unplug on a running
    VMI, or None when the status already matches the pod and the spec:

    1. a non-absent secondary interface the pod now carries gets an entry
       with ``multus-status`` (virt-handler sees the pod interface);
    2. such an entry is hot-plugged into the domain (``domain, guest-agent,
       multus-status``);
    3. an ``absent`` interface leaves the domain (``multus-status`` only);
    4. an entry whose pod interface is gone disappears.

    Link state follows ``state`` up/down at once."""
    spec = vmi.get("spec") or {}
    current = list((vmi.get("status") or {}).get("interfaces") or [])
    attached = pod_attachments(network_status)
    nets = net_spec.by_name(net_spec.networks(spec))
    ifaces = net_spec.interfaces(spec)
    positions = {iface["name"]: index for index, iface in enumerate(ifaces)}
    by_iface = net_spec.by_name(ifaces)
    reported = net_spec.by_name(current)
    uid = vmi["metadata"]["uid"]

    def entry_for(iface, source, previous=None):
        network = nets[iface["name"]]
        return interface_status(positions[iface["name"]], iface, network,
                                attached.get(net_spec.pod_interface_name(network)), pod_ips,
                                macs.mac_for(uid, iface), source, previous)

    candidates = [i for i in ifaces if i["name"] in nets and net_spec.is_secondary_multus(nets[i["name"]])]
    # 1. newly attached to the pod
    new = [i for i in candidates if i.get("state") != net_spec.ABSENT and i["name"] not in reported
           and net_spec.pod_interface_name(nets[i["name"]]) in attached]
    if new:
        return current + [entry_for(i, POD_ONLY) for i in new]
    # 2. into the domain
    plug = {i["name"] for i in candidates if i.get("state") != net_spec.ABSENT
            and reported.get(i["name"], {}).get("infoSource") == POD_ONLY}
    if plug:
        return [entry_for(by_iface[e["name"]], FULL_SECONDARY, e) if e["name"] in plug else e for e in current]
    # 3. out of the domain
    unplug = {i["name"] for i in candidates if i.get("state") == net_spec.ABSENT
              and net_spec.INFO_DOMAIN in net_spec.info_sources(reported.get(i["name"]))}
    if unplug:
        return [entry_for(by_iface[e["name"]], POD_ONLY, e) if e["name"] in unplug else e for e in current]
    # 4. gone from the pod
    gone = {e["name"] for e in current if e.get("infoSource") == POD_ONLY and (
        e["name"] not in nets or net_spec.pod_interface_name(nets[e["name"]]) not in attached)}
    if gone:
        return [e for e in current if e["name"] not in gone]
    relinked = [dict(e, linkState="down" if by_iface[e["name"]].get("state") == "down" else "up")
                if e.get("linkState") and e["name"] in by_iface else e for e in current]
    return relinked if relinked != current else None
