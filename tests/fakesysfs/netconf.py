"""The fake host's IP configuration and what ``ip -j`` prints about it.

State, in ``<root>/.fakesysfs/kernel.json`` next to the rest of the simulated kernel:

* ``addresses``: {ifname: [{"family", "local", "prefixlen", "scope"}]} (``ip addr add``);
* ``routes``: [{"family", "dst", "gateway", "dev"}] (``ip route add``; connected routes are derived from the
  addresses, as the kernel adds them);
* ``virtual``: {ifname: {"kind": "bond" | "bridge" | "vlan", "link": lower ifname for a VLAN}} (devices under
  /sys/devices/virtual/net);
* ``masters``: {ifname: master ifname} (``ip link set X master bond0``).

The JSON follows iproute2 6.1, whose output on a real host was the reference (``ip -j addr show``,
``ip -j route show``, ``ip -j -6 route show`` on veth/bridge/macvlan set-ups): print_linkinfo and
print_addrinfo in ip/ipaddress.c ("link" before "ifname" for a stacked device, "master" after "qdisc",
"addr_info" entries with "family", "local", "prefixlen", "broadcast" (IPv4), "scope", "label" (IPv4),
lifetimes) and print_route in ip/iproute.c ("dst" is "default" for a default route, then "gateway", "dev",
"protocol", "scope", "prefsrc", "metric", "flags"; IPv6 routes add "pref"; a multipath route has
"nexthops").  Every link-layer device but a bond's port gets its IPv6 link-local address, as the kernel's
addrconf does.
"""

import ipaddress
import json
import os

FOREVER = 4294967295


def _eui64_link_local(mac):
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xff, 0xfe] + octets[3:]
    groups = ["%x" % ((eui[i] << 8) | eui[i + 1]) for i in range(0, 8, 2)]
    return str(ipaddress.IPv6Address("fe80::" + ":".join(groups)))


class NetConf:
    """Reads the simulated kernel's state; ``add_*`` change it as ``ip ... add`` would."""

    def __init__(self, kernel):
        self.kernel = kernel

    # ------------------------------------------------------------ changes (test set-up)
    def add_address(self, name, cidr, scope="global"):
        iface = ipaddress.ip_interface(cidr)
        state = self.kernel.load()
        state.setdefault("addresses", {}).setdefault(name, []).append({
            "family": "inet" if iface.version == 4 else "inet6", "local": str(iface.ip),
            "prefixlen": iface.network.prefixlen, "scope": scope})
        self.kernel.save(state)

    def add_route(self, dst, dev, gateway=None):
        family = "inet6" if ":" in (gateway or "") or ":" in dst else "inet"
        state = self.kernel.load()
        state.setdefault("routes", []).append({"family": family, "dst": dst, "gateway": gateway, "dev": dev})
        self.kernel.save(state)

    def add_virtual(self, name, kind, link=None, mac="02:00:00:00:ee:01"):
        netdir = self.kernel.p("sys/devices/virtual/net", name)
        os.makedirs(netdir, exist_ok=True)
        self.kernel.put(os.path.join(netdir, "address"), mac + "\n")
        self.kernel.put(os.path.join(netdir, "operstate"), "up\n")
        self.kernel.symlink(netdir, self.kernel.p("sys/class/net", name))
        state = self.kernel.load()
        state.setdefault("virtual", {})[name] = {"kind": kind, "link": link}
        self.kernel.save(state)

    def set_master(self, name, master):
        state = self.kernel.load()
        state.setdefault("masters", {})[name] = master
        self.kernel.save(state)

    # ------------------------------------------------------------ what ip prints
    def names(self):
        base = self.kernel.p("sys/class/net")
        return ["lo"] + sorted(os.listdir(base) if os.path.isdir(base) else [])

    def link(self, name, state):
        """One link object, as print_linkinfo writes it."""
        index = self.names().index(name) + 1
        if name == "lo":
            return {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "mtu": 65536,
                    "qdisc": "noqueue", "operstate": "UNKNOWN", "group": "default", "txqlen": 1000,
                    "link_type": "loopback", "address": "00:00:00:00:00:00", "broadcast": "00:00:00:00:00:00"}
        virtual = (state.get("virtual") or {}).get(name)
        # IFF_UP is the administrative state (net/core/dev.c dev_change_flags); iproute2 prints it as "UP"
        # and, with carrier, "LOWER_UP"
        up = name not in state.get("admin_down", [])
        link = {"ifindex": index}
        if virtual and virtual.get("link"):
            link["link"] = virtual["link"]
        link.update({"ifname": name, "flags": ["BROADCAST", "MULTICAST"] + (["UP", "LOWER_UP"] if up else []),
                     "mtu": 1500, "qdisc": "noqueue" if virtual else "mq"})
        master = (state.get("masters") or {}).get(name)
        if master:
            link["master"] = master
        link.update({"operstate": "UP" if up else "DOWN", "group": "default", "txqlen": 1000,
                     "link_type": "ether", "address": self.kernel.get(self.kernel.p("sys/class/net", name, "address")),
                     "broadcast": "ff:ff:ff:ff:ff:ff"})
        return link

    @staticmethod
    def _bond_port(name, state):
        """A bond's port gets no IPv6 address of its own (addrconf skips IFF_SLAVE devices); a bridge port does."""
        master = (state.get("masters") or {}).get(name)
        return bool(master) and ((state.get("virtual") or {}).get(master) or {}).get("kind") == "bond"

    def addr_info(self, name, state):
        out = []
        if name == "lo":
            return [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host", "label": "lo",
                     "valid_life_time": FOREVER, "preferred_life_time": FOREVER},
                    {"family": "inet6", "local": "::1", "prefixlen": 128, "scope": "host",
                     "valid_life_time": FOREVER, "preferred_life_time": FOREVER}]
        for addr in (state.get("addresses") or {}).get(name, []):
            entry = {"family": addr["family"], "local": addr["local"], "prefixlen": addr["prefixlen"]}
            if addr["family"] == "inet":
                entry["broadcast"] = str(ipaddress.ip_interface(
                    "%s/%s" % (addr["local"], addr["prefixlen"])).network.broadcast_address)
            entry["scope"] = addr["scope"]
            if addr["family"] == "inet":
                entry["label"] = name
            entry.update({"valid_life_time": FOREVER, "preferred_life_time": FOREVER})
            out.append(entry)
        if not self._bond_port(name, state):
            mac = self.kernel.get(self.kernel.p("sys/class/net", name, "address"))
            if mac:
                out.append({"family": "inet6", "local": _eui64_link_local(mac), "prefixlen": 64, "scope": "link",
                            "valid_life_time": FOREVER, "preferred_life_time": FOREVER})
        return out

    def addr_show(self, name=None):
        state = self.kernel.load()
        names = self.names()
        if name is not None and name not in names:
            return 1, "", 'Device "%s" does not exist.\n' % name
        out = []
        for ifname in [name] if name is not None else names:
            link = self.link(ifname, state)
            link["addr_info"] = self.addr_info(ifname, state)
            out.append(link)
        return 0, json.dumps(out), ""

    def route_show(self, family):
        """The main table of one family: connected routes of the addresses, then the configured ones."""
        state = self.kernel.load()
        out = []
        for name in self.names():
            if name == "lo":
                continue
            for addr in (state.get("addresses") or {}).get(name, []):
                if addr["family"] != family or addr["scope"] != "global":
                    continue
                net = ipaddress.ip_interface("%s/%s" % (addr["local"], addr["prefixlen"])).network
                if family == "inet":
                    out.append({"dst": str(net), "dev": name, "protocol": "kernel", "scope": "link",
                                "prefsrc": addr["local"], "flags": []})
                else:
                    out.append({"dst": str(net), "dev": name, "protocol": "kernel", "metric": 256, "flags": [],
                                "pref": "medium"})
            if family == "inet6" and not self._bond_port(name, state):
                out.append({"dst": "fe80::/64", "dev": name, "protocol": "kernel", "metric": 256, "flags": [],
                            "pref": "medium"})
        for route in state.get("routes") or []:
            if route["family"] != family:
                continue
            entry = {"dst": route["dst"]}
            if route.get("gateway"):
                entry["gateway"] = route["gateway"]
            entry["dev"] = route["dev"]
            if family == "inet6":
                entry.update({"metric": 1024, "flags": [], "pref": "medium"})
            else:
                entry["flags"] = []
            out.append(entry)
        return 0, json.dumps(out), ""
