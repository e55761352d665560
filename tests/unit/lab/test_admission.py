"""KubeVirt v1.9 network admission rules (tests/lab/kubevirt/admission.py):
each rule refuses what KubeVirt refuses, with KubeVirt's message, cause type
and field path, and lets the good variant through."""

import copy

import pytest

from tests.lab.kubevirt import admission as adm
from tests.lab.kubevirt.capabilities import binding_plugin_registered

VM_FIELD = "spec.template.spec"


def kubevirt(version="v1.9.0", gates=(), disabled=(), network=None):
    return {"spec": {"configuration": {
        "developerConfiguration": {"featureGates": list(gates), "disabledFeatureGates": list(disabled)},
        "network": dict(network or {})}},
        "status": {"observedKubeVirtVersion": version}}


def cluster(**kwargs):
    return adm.ClusterInfo(kubevirt(**kwargs))


def pod(name="default"):
    return {"name": name, "pod": {}}


def multus(name, nad="br1", default=None):
    net = {"name": name, "multus": {"networkName": nad}}
    if default is not None:
        net["multus"]["default"] = default
    return net


def iface(name, binding="bridge", **fields):
    entry = {"name": name}
    if binding:
        entry[binding] = {"name": "plugin"} if binding == "binding" else {}
    entry.update(fields)
    return entry


def vm(ifaces, nets, **spec_fields):
    spec = {"domain": {"devices": {"interfaces": ifaces}}, "networks": nets}
    spec.update(spec_fields)
    return {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "vm1"},
            "spec": {"runStrategy": "Halted", "template": {"spec": spec}}}


def causes(response):
    assert not response["allowed"], response
    assert response["status"]["code"] == 422 and response["status"]["reason"] == "Invalid"
    return [(c.get("field"), c["message"]) for c in response["status"]["details"]["causes"]]


def create(ifaces, nets, info=None, **spec_fields):
    return adm.admit_vm("CREATE", vm(ifaces, nets, **spec_fields), info or cluster())


GUIDE_IFACES = [iface("default", "masquerade", ports=[{"name": "http", "port": 80}]), iface("net1", "bridge")]
GUIDE_NETS = [pod(), multus("net1", "ns1/br1")]


# ------------------------------------------------------------ accepted
def test_user_guide_vm_is_accepted():
    assert create(GUIDE_IFACES, GUIDE_NETS) == {"allowed": True}


def test_vm_without_networks_gets_the_default_pod_network_and_is_accepted():
    assert create([], [])["allowed"]


def test_vm_without_networks_is_refused_when_the_default_bridge_is_not_permitted():
    response = create([], [], cluster(network={"permitBridgeInterfaceOnPodNetwork": False}))
    assert response == {"allowed": False, "status": {
        "message": "bridge interface is not enabled in kubevirt-config", "code": 400}}
    masquerade = cluster(network={"permitBridgeInterfaceOnPodNetwork": False, "defaultNetworkInterface": "masquerade"})
    assert create([], [], masquerade)["allowed"]


def test_unregistered_binding_plugin_is_not_an_admission_error():
    assert create([iface("default", "binding")], [pod()])["allowed"]
    kv = kubevirt(network={"binding": {"plugin": {"sidecarImage": "x"}}})
    assert binding_plugin_registered(kv, "plugin") and not binding_plugin_registered(kubevirt(), "plugin")


def test_deleting_vm_is_not_validated():
    body = vm([iface("x")], [])
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert adm.admit_vm("UPDATE", body, cluster())["allowed"]


def test_legacy_running_field_gets_kubevirts_warning():
    body = vm(GUIDE_IFACES, GUIDE_NETS)
    body["spec"] = dict(body["spec"], running=True)
    del body["spec"]["runStrategy"]
    assert adm.admit_vm("CREATE", body, cluster())["warnings"] == [
        "spec.running is deprecated, please use spec.runStrategy instead."]


# ------------------------------------------------------------ names
def test_interface_without_network():
    assert causes(create([iface("default", "masquerade"), iface("x")], [pod()])) == [
        (VM_FIELD + ".domain.devices.interfaces[1].name",
         "spec.template.spec.domain.devices.interfaces[1].name 'x' not found.")]


def test_network_without_interface():
    response = create([iface("default", "masquerade")], [pod(), multus("n")])
    assert causes(response) == [(VM_FIELD + ".networks[1].name", "spec.template.spec.networks[1].name 'n' not found.")]
    assert response["status"]["details"]["causes"][0]["reason"] == "FieldValueRequired"


def test_vmi_paths_have_no_template_prefix():
    vmi = {"spec": {"domain": {"devices": {"interfaces": [iface("x")]}}, "networks": []}}
    response = adm.admit_vmi_create(vmi, cluster())
    assert ("spec.domain.devices.interfaces[0].name", "spec.domain.devices.interfaces[0].name 'x' not found.") \
        in causes(response)


def test_duplicate_interface_names():
    got = causes(create([iface("a"), iface("a")], [multus("a")]))
    assert got == [(VM_FIELD + ".domain.devices.interfaces[1].name",
                    "Only one interface can be connected to one specific network")]


def test_duplicate_network_names():
    got = causes(create([iface("a")], [multus("a"), multus("a", "br2")]))
    assert got == [(VM_FIELD + ".networks[1].name",
                    'Network with name "a" already exists, every network must have a unique name')]


@pytest.mark.parametrize("name", ["with.dot", "sp ace", "ümlaut"])
def test_interface_name_format(name):
    assert (VM_FIELD + ".domain.devices.interfaces[0].name",
            "Network interface name can only contain alphabetical characters, numbers, dashes (-) or underscores (_)") \
        in causes(create([iface(name)], [multus(name)]))


def test_interface_name_with_dash_and_underscore_is_fine():
    assert create([iface("a-b_C9")], [multus("a-b_C9")])["allowed"]


# ------------------------------------------------------------ bindings and sources
@pytest.mark.parametrize("bindings", [[], ["bridge", "sriov"], ["masquerade", "binding"]])
def test_exactly_one_binding(bindings):
    entry = {"name": "a"}
    for key in bindings:
        entry[key] = {"name": "p"} if key == "binding" else {}
    got = causes(create([entry], [multus("a")]))
    assert (VM_FIELD + ".domain.devices.interfaces[0]",
            "logical a interface must have exactly one binding method or binding plugin") in got


def test_network_needs_exactly_one_source():
    assert causes(create([iface("a")], [{"name": "a"}])) == [(VM_FIELD + ".networks[0]", "should have a network type")]
    both = {"name": "a", "pod": {}, "multus": {"networkName": "br1"}}
    assert (VM_FIELD + ".networks[0]", "should have only one network type") in causes(create([iface("a")], [both]))


def test_multus_needs_a_network_name():
    assert causes(create([iface("a")], [{"name": "a", "multus": {"networkName": ""}}])) == [
        (VM_FIELD + ".networks[0]", "CNI delegating plugin must have a networkName")]


def test_at_most_one_pod_network():
    got = causes(create([iface("a", "masquerade"), iface("b", "masquerade")], [pod("a"), pod("b")]))
    assert got == [(VM_FIELD + ".interfaces",
                    "more than one interface is connected to a pod network in spec.template.spec.interfaces")]


def test_multus_default_is_exclusive_with_pod_and_unique():
    got = causes(create([iface("a", "masquerade"), iface("b")], [pod("a"), multus("b", default=True)]))
    assert got == [(VM_FIELD + ".networks", "Pod network cannot be defined when Multus default network is defined")]
    got = causes(create([iface("a"), iface("b")], [multus("a", default=True), multus("b", default=True)]))
    assert got == [(VM_FIELD + ".networks", "Multus CNI should only have one default network")]
    assert create([iface("a"), iface("b")], [multus("a", default=True), multus("b", default=False)])["allowed"]


def test_masquerade_only_on_the_pod_network():
    got = causes(create([iface("default", "masquerade"), iface("net1", "masquerade")], GUIDE_NETS))
    assert got == [(VM_FIELD + ".domain.devices.interfaces[1].name",
                    "Masquerade interface only implemented with pod network")]


def test_masquerade_refuses_the_in_pod_bridge_mac():
    got = causes(create([iface("default", "masquerade", macAddress="02:00:00:00:00:00")], [pod()]))
    assert got == [(VM_FIELD + ".domain.devices.interfaces[0].macAddress",
                    "The requested MAC address is reserved for the in-pod bridge. Please choose another one.")]


def test_bridge_on_pod_network_needs_the_permission():
    info = cluster(network={"permitBridgeInterfaceOnPodNetwork": False})
    assert causes(create([iface("default")], [pod()], info)) == [
        (VM_FIELD + ".domain.devices.interfaces[0].name",
         "Bridge on pod network configuration is not enabled under kubevirt-config")]
    assert create([iface("default")], [pod()])["allowed"]


def test_passt_binding_only_on_the_pod_network():
    got = causes(create([iface("net1", "passtBinding")], [multus("net1")]))
    assert got == [(VM_FIELD + ".domain.devices.interfaces[0].name",
                    "PasstBinding interface only implemented with pod network")]
    assert create([iface("default", "passtBinding")], [pod()])["allowed"]


@pytest.mark.parametrize("info,ok", [
    (cluster(), True),                                           # Beta: on by default in v1.9
    (cluster(disabled=["PasstBinding"]), False),
    (cluster(version="v1.8.0"), False),                          # Beta needed listing before v1.9
    (cluster(version="v1.8.0", gates=["PasstBinding"]), True),
])
def test_passt_binding_needs_its_feature_gate(info, ok):
    response = create([iface("default", "passtBinding")], [pod()], info)
    if ok:
        assert response["allowed"]
    else:
        assert causes(response) == [(VM_FIELD + ".domain.devices.interfaces[0].name",
                                     "PasstBinding feature gate is not enabled")]


# ------------------------------------------------------------ state
def test_absent_only_for_bridge():
    got = causes(create([iface("net1", "sriov", state="absent")], [multus("net1")]))
    assert got == [(VM_FIELD + ".domain.devices.interfaces[0].state",
                    '"net1" interface\'s state "absent" is supported only for bridge binding')]


@pytest.mark.parametrize("nets", [[pod()], [multus("default", default=True)]])
def test_absent_never_on_the_primary_network(nets):
    got = causes(create([iface("default", state="absent")], nets))
    assert got == [(VM_FIELD + ".domain.devices.interfaces[0].state",
                    '"default" interface\'s state "absent" is not supported on default networks')]


def test_absent_on_a_secondary_bridge_is_hot_unplug():
    ifaces = [iface("default", "masquerade"), iface("net1", state="absent")]
    assert create(ifaces, GUIDE_NETS)["allowed"]


@pytest.mark.parametrize("state", ["down", "up"])
def test_link_state_not_on_sriov(state):
    got = causes(create([iface("sriov", "sriov", state=state)], [multus("sriov")]))
    assert got == [(VM_FIELD + ".domain.devices.interfaces[0].state",
                    '"sriov" interface\'s state "%s" is not supported for SR-IOV NICs' % state)]


def test_link_down_is_fine_on_bridge_and_on_passt_binding():
    # v1.9.0's admitter refuses link state on SR-IOV only
    assert create([iface("net1", state="down")], [multus("net1")])["allowed"]
    assert create([iface("default", "passtBinding", state="down")], [pod()])["allowed"]


def test_unknown_state():
    got = causes(create([iface("net1", state="sleeping")], [multus("net1")]))
    assert got == [(VM_FIELD + ".domain.devices.interfaces[0].state",
                    "logical net1 interface state value is unsupported: sleeping")]


# ------------------------------------------------------------ ports
PORTS = VM_FIELD + ".domain.devices.interfaces[0].ports"


@pytest.mark.parametrize("port,expected", [
    ({"port": 70000}, [(PORTS + "[0].port", "Port field must be in range 0 < x < 65536.")]),
    ({"port": -1}, [(PORTS + "[0].port", "Port field must be in range 0 < x < 65536.")]),
    ({"port": 0}, [(PORTS + "[0].port", "Port field is mandatory.")]),
    ({"port": 80, "protocol": "SCTP"}, [(PORTS + "[0].protocol", "Unknown protocol, only TCP or UDP allowed")]),
    ({"port": 80, "name": "Http"}, [(PORTS + "[0].name", "Invalid name of the port: Http")]),
    ({"port": 80, "name": "a-very-long-port-name"},
     [(PORTS + "[0].name", "Invalid name of the port: a-very-long-port-name")]),
])
def test_forwarded_port_rules(port, expected):
    assert causes(create([iface("default", "masquerade", ports=[port])], [pod()])) == expected


@pytest.mark.parametrize("port", [{"port": 1}, {"port": 65535, "protocol": "UDP", "name": "dns"}])
def test_valid_ports(port):
    assert create([iface("default", "masquerade", ports=[port])], [pod()])["allowed"]


def test_duplicate_port_names():
    ports = [{"name": "web", "port": 80}, {"name": "web", "port": 8080}]
    assert causes(create([iface("default", "masquerade", ports=ports)], [pod()])) == [
        (PORTS + "[1].name", "Duplicate name of the port: web")]


def test_ports_are_checked_on_the_pod_network_only():
    # KubeVirt validates ports on any pod-network interface and ignores them elsewhere
    bad = [{"port": 70000}]
    assert causes(create([iface("default", "bridge", ports=bad)], [pod()])) == [
        (PORTS + "[0].port", "Port field must be in range 0 < x < 65536.")]
    assert create([iface("net1", "bridge", ports=bad)], [multus("net1")])["allowed"]


RANGES = VM_FIELD + ".domain.devices.interfaces[0].portRanges"
NAME0 = VM_FIELD + ".domain.devices.interfaces[0].name"


def test_port_ranges_need_the_alpha_gate():
    ranges = [{"protocol": "TCP", "start": 8000, "end": 8100}]
    got = causes(create([iface("default", "masquerade", portRanges=ranges)], [pod()]))
    assert got == [(NAME0, "portRanges is specified on interface but the PortRangesSpec feature gate is not enabled")]
    assert create([iface("default", "masquerade", portRanges=ranges)], [pod()], cluster(gates=["PortRangesSpec"]))[
        "allowed"]


@pytest.mark.parametrize("binding,fields,expected", [
    ("bridge", {"portRanges": [{"protocol": "TCP", "start": 1, "end": 2}]},
     [(NAME0, "portRanges are only supported on masquerade interfaces")]),
    ("masquerade", {"portRanges": [{"protocol": "TCP", "start": 1, "end": 2}], "ports": [{"port": 80}]},
     [(NAME0, "Cannot define both ports and portRanges on interface")]),
    ("masquerade", {"portRanges": [{"protocol": "ICMP", "start": 1, "end": 2}]},
     [(RANGES + "[0].protocol", "Unknown protocol, only TCP or UDP allowed")]),
    ("masquerade", {"portRanges": [{"protocol": "TCP", "start": 0, "end": 2}]},
     [(RANGES + "[0].start", "Start must be a valid port number, 0 < x < 65536")]),
    ("masquerade", {"portRanges": [{"protocol": "TCP", "start": 1, "end": 65536}]},
     [(RANGES + "[0].end", "End must be a valid port number, 0 < x < 65536")]),
    ("masquerade", {"portRanges": [{"protocol": "TCP", "start": 10, "end": 2}]},
     [(RANGES + "[0].start", "Start must be less than or equal to end")]),
    ("masquerade", {"portRanges": [{"protocol": "TCP", "start": 10, "end": 20}, {"protocol": "TCP", "start": 15,
                                                                                 "end": 30},
                                   {"protocol": "UDP", "start": 15, "end": 30}]},
     [(RANGES, "TCP portRanges [10-20] and [15-30] overlap")]),
    ("masquerade", {"portRanges": [{"protocol": "TCP", "start": i, "end": i} for i in range(1, 12)]},
     [(RANGES, "No more than 10 portRanges are allowed")]),
])
def test_port_range_rules(binding, fields, expected):
    info = cluster(gates=["PortRangesSpec"])
    assert causes(create([iface("default", binding, **fields)], [pod()], info)) == expected


# ------------------------------------------------------------ MAC, model, PCI, DHCP
# Go 1.26 net.ParseMAC (KubeVirt v1.9.0's Go) also takes bare hex; KubeVirt takes multicast MACs too
@pytest.mark.parametrize("mac", ["de:ad:00:00:be:af", "DE-AD-00-00-BE-AF", "dead.00be.afaf", "deAD0000beaf",
                                 "01:00:5e:00:00:01", ""])
def test_valid_mac_forms(mac):
    assert create([iface("net1", macAddress=mac)], [multus("net1")])["allowed"]


@pytest.mark.parametrize("mac,error", [
    ("de:ad:00:00:be", "malformed MAC address (de:ad:00:00:be)"),
    ("de:ad-00:00:be:af", "malformed MAC address (de:ad-00:00:be:af)"),
    ("xx:ad:00:00:be:af", "malformed MAC address (xx:ad:00:00:be:af)"),
    ("de:ad:00:00:be:af:00:01", "too long MAC address (de:ad:00:00:be:af:00:01)"),
    ("deadbeef0001aabb", "too long MAC address (deadbeef0001aabb)"),
    ("dead0000beaf0", "malformed MAC address (dead0000beaf0)"),
    ("dead.00be-afaf", "malformed MAC address (dead.00be-afaf)"),
])
def test_bad_mac(mac, error):
    assert causes(create([iface("net1", macAddress=mac)], [multus("net1")])) == [
        (VM_FIELD + ".domain.devices.interfaces[0].macAddress",
         "interface spec.template.spec.domain.devices.interfaces[0].name has %s." % error)]


@pytest.mark.parametrize("model", sorted(adm.INTERFACE_MODELS))
def test_valid_models(model):
    assert create([iface("net1", model=model)], [multus("net1")])["allowed"]


def test_unsupported_model():
    response = create([iface("net1", model="virtio-net")], [multus("net1")])
    assert causes(response) == [(VM_FIELD + ".domain.devices.interfaces[0].model",
                                 "interface spec.template.spec.domain.devices.interfaces[0].name uses model "
                                 "virtio-net that is not supported.")]
    assert response["status"]["details"]["causes"][0]["reason"] == "FieldValueNotSupported"


def test_pci_address():
    assert create([iface("net1", pciAddress="0000:81:00.1")], [multus("net1")])["allowed"]
    assert causes(create([iface("net1", pciAddress="0000:81:00.8")], [multus("net1")])) == [
        (VM_FIELD + ".domain.devices.interfaces[0].pciAddress",
         "interface spec.template.spec.domain.devices.interfaces[0].name has malformed PCI address (0000:81:00.8).")]


def test_dhcp_options():
    good = {"ntpServers": ["192.0.2.1", "::ffff:192.0.2.2"], "privateOptions": [{"option": 240, "value": "x"}]}
    assert create([iface("default", dhcpOptions=good)], [pod()])["allowed"]
    bad = {"ntpServers": ["2001:db8::1"], "privateOptions": [{"option": 200, "value": "x"},
                                                             {"option": 200, "value": "y"}]}
    assert causes(create([iface("default", dhcpOptions=bad)], [pod()])) == [
        (VM_FIELD, "Found Duplicates: you have provided duplicate DHCPPrivateOptions"),
        (VM_FIELD, "provided DHCPPrivateOptions are out of range, must be in range 224 to 254"),
        (VM_FIELD, "provided DHCPPrivateOptions are out of range, must be in range 224 to 254"),
        (VM_FIELD + ".domain.devices.interfaces[0].dhcpOptions.ntpServers[0]",
         "NTP servers must be a list of valid IPv4 addresses."),
    ]


# ------------------------------------------------------------ discontinued bindings
@pytest.mark.parametrize("binding,message", [
    ("slirp", "Slirp interface support has been discontinued since v1.3"),
    ("macvtap", "Macvtap network binding has been discontinued since v1.3"),
    ("passt", "Passt network binding has been discontinued since v1.3"),
])
def test_removed_bindings_are_refused_on_create(binding, message):
    # the VM admitter runs this check with the prefix "spec" and answers it alone
    assert causes(create([iface("default", binding)], [pod()])) == [
        ("spec.domain.devices.interfaces[0].%s" % binding, message)]


def test_removed_binding_on_update_fails_the_binding_count():
    got = causes(adm.admit_vm("UPDATE", vm([iface("default", "slirp")], [pod()]), cluster()))
    assert got == [(VM_FIELD + ".domain.devices.interfaces[0]",
                    "logical default interface must have exactly one binding method or binding plugin")]


def test_discontinued_gate_listed_and_used():
    response = create([iface("default", "passt")], [pod()], cluster(gates=["Passt"]))
    assert causes(response) == [(None, "Passt network binding is discontinued since v1.3. Please refer to Kubevirt "
                                       "user guide for alternatives.")]


# ------------------------------------------------------------ DNS names
def test_hostname_and_subdomain_rules():
    assert create(GUIDE_IFACES, GUIDE_NETS, hostname="db-1", subdomain="mysubdomain")["allowed"]
    got = causes(create(GUIDE_IFACES, GUIDE_NETS, hostname="Db.1", subdomain="Sub_domain"))
    assert got[0][0] == VM_FIELD + ".hostname"
    assert got[0][1].startswith("spec.template.spec.hostname does not conform to the kubernetes DNS_LABEL rules : "
                                "a lowercase RFC 1123 label must consist of")
    assert got[1][0] == VM_FIELD + ".subdomain"
    assert got[1][1].startswith("spec.template.spec.subdomain does not conform to the kubernetes DNS_SUBDOMAIN "
                                "rules : a lowercase RFC 1123 subdomain")
    assert causes(create(GUIDE_IFACES, GUIDE_NETS, hostname="a.b"))[0][1].endswith(": must not contain dots")


# ------------------------------------------------------------ DRA networks
def test_dra_networks():
    claim = {"name": "dra", "resourceClaim": {"claimName": "c", "requestName": "r"}}
    sriov = iface("dra", "sriov")
    assert causes(create([sriov], [claim])) == [
        (VM_FIELD + ".networks",
         "vmi.spec.networks contains DRA networks but NetworkDevicesWithDRA feature gate is not enabled")]
    info = cluster(gates=["NetworkDevicesWithDRA"])
    assert create([sriov], [claim], info, resourceClaims=[{"name": "c"}])["allowed"]
    assert causes(create([sriov, iface("m")], [claim, multus("m")], info, resourceClaims=[{"name": "c"}])) == [
        (VM_FIELD + ".networks", "mixing Multus and DRA resourceClaim networks in the same VMI is not supported")]
    got = causes(create([iface("dra")], [claim], info))
    assert got == [
        (VM_FIELD + ".domain.devices.interfaces", 'DRA network "dra" requires an SR-IOV or binding plugin interface'),
        (VM_FIELD + ".networks[0].resourceClaim.claimName",
         'network references resourceClaim "c" which is not defined in spec.resourceClaims')]
    twice = [claim, dict(claim, name="dra2")]
    got = causes(create([sriov, iface("dra2", "sriov")], twice, info, resourceClaims=[{"name": "c"}]))
    assert got == [(VM_FIELD + ".networks[1]", 'duplicate claimName/requestName combination "c/r"')]


# ------------------------------------------------------------ VMIs
def test_vmi_create_lists_network_causes_twice_like_kubevirt():
    vmi = {"spec": {"domain": {"devices": {"interfaces": [iface("default", "masquerade"), iface("net1", "masquerade")]}},
                    "networks": [pod(), multus("net1")]}}
    cause = ("spec.domain.devices.interfaces[1].name", "Masquerade interface only implemented with pod network")
    assert causes(adm.admit_vmi_create(vmi, cluster())) == [cause, cause]


def test_vmi_create_refuses_removed_bindings_with_the_rest():
    vmi = {"spec": {"domain": {"devices": {"interfaces": [iface("default", "slirp")]}}, "networks": [pod()]}}
    got = causes(adm.admit_vmi_create(vmi, cluster()))
    assert got[0] == ("spec.domain.devices.interfaces[0].slirp",
                      "Slirp interface support has been discontinued since v1.3")
    assert ("spec.domain.devices.interfaces[0]",
            "logical default interface must have exactly one binding method or binding plugin") in got


def test_vmi_spec_is_kubevirts_to_change():
    old = {"metadata": {"labels": {"kubevirt.io/nodeName": "node01", "app": "a"}}, "spec": {"networks": [pod()]}}
    new = copy.deepcopy(old)
    new["spec"]["networks"].append(multus("net1"))
    users = {"lab-controller"}
    assert adm.admit_vmi_update(new, old, "lab-controller", users)["allowed"]
    assert causes(adm.admit_vmi_update(new, old, "lab-admin", users)) == [(None, "update of VMI object is restricted")]
    relabeled = copy.deepcopy(old)
    relabeled["metadata"]["labels"]["app"] = "b"
    assert adm.admit_vmi_update(relabeled, old, "lab-admin", users)["allowed"]
    relabeled["metadata"]["labels"]["kubevirt.io/nodeName"] = "node02"
    assert causes(adm.admit_vmi_update(relabeled, old, "lab-admin", users)) == [
        (None, "modification of the following reserved kubevirt.io/ labels on a VMI object is prohibited")]


# ------------------------------------------------------------ the response
def test_at_most_ten_causes():
    ifaces = [iface("n%d" % i) for i in range(12)]
    response = create(ifaces, [])
    assert len(response["status"]["details"]["causes"]) == 10
    assert response["status"]["message"].endswith(", and 2 more validation errors")
    assert response["status"]["message"].startswith(
        "spec.template.spec.domain.devices.interfaces[0].name 'n0' not found., "
        "spec.template.spec.domain.devices.interfaces[1].name 'n1' not found.")


# ------------------------------------------------------------ the VM mutator
def test_vm_mutator_defaults_on_create():
    body = vm(GUIDE_IFACES, GUIDE_NETS)
    ops = adm.mutate_vm("CREATE", body, cluster())
    assert [op["path"] for op in ops] == ["/spec"]
    spec = ops[0]["value"]["template"]["spec"]
    assert spec["architecture"] == "amd64" and spec["domain"]["machine"] == {"type": "q35"}
    firmware = spec["domain"]["firmware"]
    assert len(firmware["uuid"]) == 36 and len(firmware["serial"]) == 36 and firmware["uuid"] != firmware["serial"]
    assert spec["domain"]["devices"] == body["spec"]["template"]["spec"]["domain"]["devices"]
    mutated = dict(body, spec=ops[0]["value"])
    assert adm.mutate_vm("CREATE", mutated, cluster()) == []  # kept, not regenerated


@pytest.mark.parametrize("version,keys", [("v1.5.0", set()), ("v1.6.0", {"uuid"}), ("v1.9.0", {"uuid", "serial"})])
def test_vm_mutator_firmware_by_version(version, keys):
    ops = adm.mutate_vm("CREATE", vm([], []), cluster(version=version))
    assert set(ops[0]["value"]["template"]["spec"]["domain"].get("firmware", {})) == keys


def test_vm_mutator_on_update_keeps_firmware_alone():
    ops = adm.mutate_vm("UPDATE", vm([], []), cluster())
    assert "firmware" not in ops[0]["value"]["template"]["spec"]["domain"]
