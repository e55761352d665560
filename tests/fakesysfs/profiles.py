"""NIC models for the fake sysfs: PCI ids, drivers and SR-IOV geometry as the
real devices report them (lspci -nn, sriov_* attributes)."""

PROFILES = {
    # Intel E810-XXV (ice PF, iavf VFs): 128 VFs per port on the 2-port card
    "e810": {
        "vendor": "8086", "device": "159b", "vf_device": "1889", "class": "0x020000",
        "pf_driver": "ice", "vf_driver": "iavf", "totalvfs": 128, "offset": 16, "stride": 1,
        "ports": 2, "ifname": "ens1f{0}", "mac": "b4:96:91:aa:bb:%02x",
    },
    # Intel X710 (i40e PF, iavf VFs): 32 VFs per port on the 4-port card
    "x710": {
        "vendor": "8086", "device": "1572", "vf_device": "154c", "class": "0x020000",
        "pf_driver": "i40e", "vf_driver": "iavf", "totalvfs": 32, "offset": 16, "stride": 1,
        "ports": 2, "ifname": "ens2f{0}", "mac": "3c:fd:fe:00:11:%02x",
    },
    # Mellanox ConnectX-5 (mlx5_core for PF and VFs), NUM_OF_VFS=8 in the NIC firmware
    "cx5": {
        "vendor": "15b3", "device": "1017", "vf_device": "1018", "class": "0x020000",
        "pf_driver": "mlx5_core", "vf_driver": "mlx5_core", "totalvfs": 8, "offset": 2, "stride": 1,
        "ports": 2, "ifname": "ens3f{0}np{0}", "mac": "0c:42:a1:00:22:%02x",
    },
}

CPU_VENDORS = {"intel": "GenuineIntel", "amd": "AuthenticAMD"}


def driver_table():
    """vendor:device -> default driver, as the drivers' PCI id tables say."""
    table = {}
    for profile in PROFILES.values():
        table["%s:%s" % (profile["vendor"], profile["device"])] = profile["pf_driver"]
        table["%s:%s" % (profile["vendor"], profile["vf_device"])] = profile["vf_driver"]
    return table
