"""Certificates and tokens for the lab cluster (made with the openssl CLI)."""

import os
import secrets
import subprocess


# A CA certificate needs a keyUsage extension with keyCertSign (RFC 5280 4.2.1.3):
# Python 3.13's default TLS context verifies strictly (VERIFY_X509_STRICT) and
# rejects a CA without it ("CA cert does not include key usage extension"), as
# a client of a real cluster's CA (kubeadm's has it) never sees.
CA_KEY_USAGE = "keyUsage=critical,digitalSignature,keyCertSign,cRLSign"


def _openssl(*args, cwd):
    subprocess.run(("openssl",) + args, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_pki(directory):
    """Create a CA, a serving certificate for 127.0.0.1/localhost and a
    service-account key pair in ``directory``.  Returns a dict of paths."""
    os.makedirs(directory, exist_ok=True)
    paths = {name: os.path.join(directory, name) for name in (
        "ca.crt", "ca.key", "server.crt", "server.key", "sa.key", "sa.pub")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=kubevirt-net-lab-ca",
             "-addext", CA_KEY_USAGE, cwd=directory)
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w", encoding="utf-8") as handle:
        handle.write(
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
            "extendedKeyUsage=serverAuth,clientAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", "/CN=kubevirt-net-lab", cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "3650", "-out", "server.crt", "-extfile", ext,
             cwd=directory)
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=directory)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
    return paths


# name -> (user, uid, groups).  "admin" and the controller identities are
# cluster-admins (system:masters); "viewer" only gets the built-in "view" role.
IDENTITIES = {
    "admin": ("lab-admin", "1", "system:masters"),
    "controller": ("lab-controller", "2", "system:masters"),
    "viewer": ("lab-viewer", "3", "lab:viewers"),
}


def make_tokens(directory):
    """Write a static token file for kube-apiserver; return name -> token."""
    path = os.path.join(directory, "tokens.csv")
    tokens = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                token, user = line.split(",")[:2]
                for name, ident in IDENTITIES.items():
                    if ident[0] == user:
                        tokens[name] = token
        if set(tokens) == set(IDENTITIES):
            return tokens, path
    tokens = {name: secrets.token_hex(24) for name in IDENTITIES}
    with open(path, "w", encoding="utf-8") as handle:
        for name, (user, uid, groups) in IDENTITIES.items():
            handle.write('%s,%s,%s,"%s"\n' % (tokens[name], user, uid, groups))
    os.chmod(path, 0o600)
    return tokens, path


def make_leaf(directory, name, common_name, sans=(), usage="serverAuth", ca="ca"):
    """A certificate ``<name>.crt``/``<name>.key`` signed by ``<ca>.crt`` (made
    once); ``sans`` like ``("DNS:localhost", "IP:127.0.0.1")``."""
    crt, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    if os.path.exists(crt) and os.path.exists(key):
        return crt, key
    ext = os.path.join(directory, name + ".ext")
    with open(ext, "w", encoding="utf-8") as handle:
        if sans:
            handle.write("subjectAltName=%s\n" % ",".join(sans))
        handle.write("extendedKeyUsage=%s\n" % usage)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
             "-out", name + ".csr", "-subj", "/CN=" + common_name, cwd=directory)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
             "-CAcreateserial", "-days", "3650", "-out", name + ".crt", "-extfile", ext, cwd=directory)
    return crt, key


def make_ca(directory, name, common_name):
    """A second CA ``<name>.crt``/``<name>.key`` (made once)."""
    crt = os.path.join(directory, name + ".crt")
    if not os.path.exists(crt):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                 "-keyout", name + ".key", "-out", name + ".crt", "-subj", "/CN=" + common_name,
                 "-addext", CA_KEY_USAGE, cwd=directory)
    return crt, os.path.join(directory, name + ".key")
