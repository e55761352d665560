"""lab.cluster.free_port: lab processes listen below the kernel's ephemeral
port range, where an outgoing connection can never take the port between the
choice and the process's bind (the cause of a lost lab: virt-api's
"bind: address already in use")."""

import socket

from lab import cluster


def test_the_range_is_read_from_the_kernel_file(tmp_path):
    path = tmp_path / "ip_local_port_range"
    path.write_text("40000\t50000\n")
    assert cluster.ephemeral_range(str(path)) == (40000, 50000)
    assert cluster.ephemeral_range(str(tmp_path / "missing")) == (32768, 60999)


def test_ports_are_chosen_below_the_ephemeral_range(monkeypatch):
    monkeypatch.setattr(cluster, "ephemeral_range", lambda: (32768, 60999))
    ports = {cluster.free_port() for _attempt in range(50)}
    assert all(10000 <= port < 32768 for port in ports), sorted(ports)
    assert len(ports) > 1   # random, so two labs rarely race for one


def test_a_port_someone_listens_on_is_skipped(monkeypatch):
    with socket.socket() as busy, socket.socket() as spare:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        spare.bind(("127.0.0.1", 0))
        taken, free = busy.getsockname()[1], spare.getsockname()[1]
        spare.close()
        monkeypatch.setattr(cluster, "ephemeral_range", lambda: (65000, 65535))   # both below it
        picks = iter([taken, free])
        monkeypatch.setattr(cluster.random, "randint", lambda _low, _high: next(picks))
        assert cluster.free_port() == free


def test_without_room_below_the_range_the_kernel_chooses(monkeypatch):
    monkeypatch.setattr(cluster, "ephemeral_range", lambda: (10500, 60999))
    port = cluster.free_port()
    assert 10500 <= port <= 65535
