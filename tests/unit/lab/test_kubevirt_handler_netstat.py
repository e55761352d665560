"""The interfaces the emulated virt-handler reports (lab/kubevirt/handler.py
domain_interfaces), rebuilt on every update as KubeVirt v1.9.0's
pkg/network/setup/netstat.go does: domain interfaces, plus the ``multus-status``
virt-controller wrote (pkg/network/controllers/vmi.go), nothing else."""

import json

from lab.kubevirt import handler, net_status

IFACES = [{"name": "default", "masquerade": {}}, {"name": "blue", "bridge": {}}]
NETS = [{"name": "default", "pod": {}}, {"name": "blue", "multus": {"networkName": "blue-net"}}]


def pod(*secondary):
    status = [{"name": "k8s-pod-network", "interface": "eth0", "ips": ["10.244.0.9"], "default": True}]
    status += [{"name": "ns/blue-net", "interface": name, "ips": ["10.77.0.2"]} for name in secondary]
    return {"metadata": {"annotations": {"k8s.v1.cni.cncf.io/network-status": json.dumps(status)}},
            "status": {"podIPs": [{"ip": "10.244.0.9"}]}}


def blue_pod_iface():
    return handler.net_spec.pod_interface_name(NETS[1])


def vmi(interfaces, ifaces=None, nets=None):
    return {"metadata": {"uid": "vmi-uid", "name": "vm", "namespace": "ns"},
            "spec": {"domain": {"devices": {"interfaces": ifaces or IFACES}}, "networks": nets or NETS},
            "status": {"interfaces": interfaces}}


def sources(entries):
    return {e["name"]: e["infoSource"] for e in entries}


def test_the_handler_does_not_add_multus_status_itself():
    got = handler.domain_interfaces(vmi([]), pod(blue_pod_iface()), net_status.MacPool())
    assert sources(got) == {"default": "domain, guest-agent", "blue": "domain, guest-agent"}


def test_an_entry_virt_controller_emptied_leaves_the_status():
    # blue was unplugged from the domain, then Multus detached it and virt-controller removed
    # its multus-status (RemoveInfoSource leaves the entry with no source)
    absent = [IFACES[0], dict(IFACES[1], state="absent")]
    current = [{"name": "default", "infoSource": "domain, guest-agent"}, {"name": "blue", "infoSource": ""}]
    got = handler.domain_interfaces(vmi(current, absent), pod(), net_status.MacPool(), plug=set())
    assert sources(got) == {"default": "domain, guest-agent"}


def test_unplug_keeps_the_multus_status_virt_controller_reports():
    absent = [IFACES[0], dict(IFACES[1], state="absent")]
    current = [{"name": "default", "infoSource": "domain, guest-agent"},
               {"name": "blue", "infoSource": "domain, guest-agent, multus-status"}]
    got = handler.domain_interfaces(vmi(current, absent), pod(blue_pod_iface()), net_status.MacPool(),
                                    plug=set(), unplug={"blue"})
    assert sources(got) == {"default": "domain, guest-agent", "blue": "multus-status"}


def test_an_interface_in_the_domain_stays_when_its_pod_interface_goes():
    current = [{"name": "default", "infoSource": "domain, guest-agent"},
               {"name": "blue", "infoSource": "domain, guest-agent, multus-status"}]
    got = handler.domain_interfaces(vmi(current), pod(), net_status.MacPool(), plug=set())
    assert sources(got) == {"default": "domain, guest-agent", "blue": "domain, guest-agent, multus-status"}


def test_plug_waits_for_the_pod_interface():
    current = [{"name": "default", "infoSource": "domain, guest-agent"}]
    assert sources(handler.domain_interfaces(vmi(current), pod(), net_status.MacPool(), plug={"blue"})) == {
        "default": "domain, guest-agent"}
    current.append({"name": "blue", "infoSource": "multus-status"})
    got = handler.domain_interfaces(vmi(current), pod(blue_pod_iface()), net_status.MacPool(), plug={"blue"})
    assert sources(got)["blue"] == "domain, guest-agent, multus-status"


def test_entries_of_interfaces_gone_from_the_spec_are_dropped():
    current = [{"name": "default", "infoSource": "domain, guest-agent"}, {"name": "old", "infoSource": ""}]
    got = handler.domain_interfaces(vmi(current, IFACES[:1], NETS[:1]), pod(), net_status.MacPool(), plug=set())
    assert sources(got) == {"default": "domain, guest-agent"}
