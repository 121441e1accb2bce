"""Key pairs among the secrets (`key_pairs`): a secp256k1 key and the Ethereum-style address it
controls. The derivation against published vectors, what the model refuses (naming host and
field), the values refused before any connection (naming site and secrets, never a value, hostile
ones included) and the sandbox's generated pairs (matching, and kept by a second run).

The production data declares none: each test adds a pair to aitbc's blockchain node (site at1),
as the loader hands the hosts over.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unit_helpers import build_fleet, production_hosts

from aitbc_infra import key_pairs
from aitbc_infra.docs import render_docs
from aitbc_infra.fleet import Fleet, ModelError
from aitbc_infra.model import KeyPair
from aitbc_infra.sandbox.secrets_file import write_sandbox_secrets
from aitbc_infra.secrets import (
    MissingSecrets,
    RefusedSecretValues,
    SecretStore,
    check_secrets,
    env_name,
    read_secrets_file,
)

KIND = "secp256k1-ethereum"
SECP256K1 = key_pairs.KINDS[KIND]
N = key_pairs.SECP256K1_ORDER
# Published vectors: the key 1 (the curve's generator), and the example account of web3's
# documentation (eth-account's `Account.from_key`).
KEY_ONE = "0" * 63 + "1"
ADDRESS_ONE = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
KEY_DOC = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ADDRESS_DOC = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"

PAIR = {"key": "NODE_KEY", "address": "NODE_ADDRESS", "kind": KIND}
# The other values at1 needs (aitbc's coordinator and exchange), so that a store can be built.
AT1 = {"JWT_SECRET": "at1-jwt-0123456789", "ADMIN_API_KEYS": "at1-admin-key-0123",
       "SESSION_SECRET": "at1-session-0123456", "WALLET_ENCRYPTION_KEY": "at1-wallet-0123456"}
NS3 = {"JWT_SECRET": "ns3-jwt-0123456789", "ADMIN_API_KEYS": "ns3-admin-key-0123"}


def _assert_no_value(text: str, *values: str) -> None:
    shown = [v for v in values if v in text]
    assert not shown, f"values in the message: {shown}"


# --- The derivation ---------------------------------------------------------------------------


@pytest.mark.parametrize("key, address", [(KEY_ONE, ADDRESS_ONE), (KEY_DOC, ADDRESS_DOC)])
def test_a_key_derives_to_its_published_address_in_eip55_case(key, address):
    assert key_pairs.checksummed(key_pairs.address_of(key_pairs.private_key(key))) == address
    assert SECP256K1.problem(key, address) is None


@pytest.mark.parametrize("spelling", [
    ADDRESS_DOC.lower(), "0x" + ADDRESS_DOC[2:].upper(), "0X" + ADDRESS_DOC[2:].lower(),
    "ait1" + ADDRESS_DOC[2:].lower(), "aitbc1" + ADDRESS_DOC[2:].lower(),
    "AITBC1" + ADDRESS_DOC[2:], "ait1" + ADDRESS_DOC[2:]])
def test_every_spelling_of_the_address_aitbc_reads_is_the_same_twenty_bytes(spelling):
    assert SECP256K1.problem(KEY_DOC, spelling) is None
    assert SECP256K1.problem(KEY_DOC.removeprefix("0x"), spelling) is None


def test_a_mixed_case_address_must_carry_its_checksum():
    # Swap the case of one letter of the checksummed form: still mixed case, wrong checksum.
    at = next(i for i, c in enumerate(ADDRESS_DOC) if i > 1 and c.isalpha())
    mistyped = ADDRESS_DOC[:at] + ADDRESS_DOC[at].swapcase() + ADDRESS_DOC[at + 1:]
    assert mistyped.lower() == ADDRESS_DOC.lower()
    assert SECP256K1.problem(KEY_DOC, mistyped) == (
        "the address is in mixed case but not in its EIP-55 checksum case: a digit or letter "
        "of it is mistyped")


def test_a_key_of_another_address_is_named_as_such():
    assert SECP256K1.problem(KEY_ONE, ADDRESS_DOC) == (
        "the key does not derive to the address (it controls another one)")
    assert SECP256K1.problem(KEY_DOC, "ait1" + ADDRESS_ONE[2:].lower()) is not None


@pytest.mark.parametrize("key, why", [
    ("0" * 64, "the key is zero, which is no key"),
    (f"{N:064x}", "the key is not below the order of secp256k1, which is no key"),
    (f"0x{N + 1:064x}", "the key is not below the order of secp256k1, which is no key"),
    ("f" * 64, "the key is not below the order of secp256k1, which is no key"),
    ("1" * 63, "the key is not 64 hex digits (0x before them optional)"),
    ("1" * 65, "the key is not 64 hex digits (0x before them optional)"),
    ("0X" + KEY_DOC[2:], "the key is not 64 hex digits (0x before them optional)"),
    ("g" + KEY_DOC[3:], "the key is not 64 hex digits (0x before them optional)"),
])
def test_what_is_no_key_is_refused(key, why):
    assert SECP256K1.problem(key, ADDRESS_DOC) == why


def test_the_largest_key_is_one_below_the_order():
    largest = f"{N - 1:064x}"
    address = key_pairs.checksummed(key_pairs.address_of(N - 1))
    assert SECP256K1.problem(largest, address) is None


@pytest.mark.parametrize("address", [
    ADDRESS_DOC[:-1], ADDRESS_DOC + "0", ADDRESS_DOC[2:], "ait" + ADDRESS_DOC[2:],
    "1x" + ADDRESS_DOC[2:], "0x" + "g" * 40, ""])
def test_what_is_no_address_is_refused(address):
    assert SECP256K1.problem(KEY_DOC, address) == (
        "the address is not an address: 0x, ait1 or aitbc1 and 40 hex digits")


HOSTILE = [
    KEY_DOC + "\n", "\n" + KEY_DOC, KEY_DOC[:20] + "\r" + KEY_DOC[20:], KEY_DOC + "\0",
    " " + KEY_DOC, KEY_DOC + " ", KEY_DOC[:30] + " " + KEY_DOC[30:],
    "\u0661" * 64,  # ARABIC-INDIC DIGIT ONE: a digit to Python's int(), no hex digit
    "\uff11" * 64,  # FULLWIDTH DIGIT ONE
    "\u212a" + "1" * 63,  # KELVIN SIGN: 'k' to a case-insensitive match
    "1" * 1_000_000, "0x" * 500_000,
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_values_are_refused_cleanly(hostile):
    assert SECP256K1.problem(hostile, ADDRESS_DOC) == (
        "the key is not 64 hex digits (0x before them optional)")
    address = ADDRESS_DOC if len(hostile) < 100 else hostile
    assert SECP256K1.problem(KEY_DOC, hostile.replace(KEY_DOC, address)) == (
        "the address is not an address: 0x, ait1 or aitbc1 and 40 hex digits")


def _every_message() -> set[str | None]:
    """What `problem` can say: fixed words only, so no message can carry a value."""
    keys = [None, "the key is not 64 hex digits (0x before them optional)",
            "the key is zero, which is no key",
            "the key is not below the order of secp256k1, which is no key"]
    addresses = [None, "the address is not an address: 0x, ait1 or aitbc1 and 40 hex digits",
                 "the address is in mixed case but not in its EIP-55 checksum case: a digit or "
                 "letter of it is mistyped"]
    said = {"; ".join(p for p in (k, a) if p) or None for k in keys for a in addresses}
    return said | {"the key does not derive to the address (it controls another one)"}


@settings(max_examples=300, deadline=None)
@given(key=st.one_of(st.text(), st.from_regex(r"(0x)?[0-9a-fA-F]{64}", fullmatch=True)),
       address=st.one_of(st.text(), st.from_regex(r"(0x|ait1|aitbc1)[0-9a-fA-F]{40}",
                                                  fullmatch=True)))
def test_any_text_gets_an_answer_in_fixed_words(key, address):
    assert SECP256K1.problem(key, address) in _every_message()


def test_a_new_pair_matches_and_is_new_each_time(monkeypatch):
    pairs = {SECP256K1.new() for _ in range(5)}
    assert len(pairs) == 5
    for key, address in pairs:
        assert len(key) == 64 and key == key.lower() and SECP256K1.problem(key, address) is None
        assert address == key_pairs.checksummed(key_pairs.address_of(int(key, 16)))
    # A draw out of range (zero, or the order or more) is drawn again, never used.
    draws = iter([bytes(32), N.to_bytes(32, "big"), (2**256 - 1).to_bytes(32, "big"),
                  (N - 1).to_bytes(32, "big")])
    monkeypatch.setattr(key_pairs.secrets, "token_bytes", lambda n: next(draws))
    assert SECP256K1.new()[0] == f"{N - 1:064x}"


# --- The model --------------------------------------------------------------------------------


def _chain_secrets(*names: str):
    def edit(data: dict) -> None:
        app = next(a for a in data["apps"] if a["name"] == "blockchain-node")
        app["secrets"] = [*app["secrets"], *names]
    return edit


def _pairs(*pairs: dict):
    def edit(data: dict) -> None:
        data["key_pairs"] = list(pairs)
    return edit


def _fleet(*edits, node: str = "aitbc") -> Fleet:
    return build_fleet(production_hosts(node, _chain_secrets("NODE_KEY", "NODE_ADDRESS"), *edits))


def _problems(hosts) -> list[str]:
    with pytest.raises(ModelError) as exc:
        build_fleet(hosts)
    return [str(p) for p in exc.value.problems]


def test_a_pair_of_the_hosts_secrets_is_its_sites():
    fleet = _fleet(_pairs(PAIR))
    assert fleet.key_pairs() == [("at1", KeyPair(**PAIR))]
    assert _fleet().key_pairs() == []


@pytest.mark.parametrize("pair, field, message", [
    ({**PAIR, "kind": "ed25519"}, "key_pairs[0].kind", "Input should be 'secp256k1-ethereum'"),
    ({"key": "NODE_KEY", "address": "NODE_ADDRESS"}, "key_pairs[0].kind", "Field required"),
    ({**PAIR, "address": "NODE_KEY"}, "key_pairs[0]",
     "a pair is two secrets: key and address are both 'NODE_KEY'"),
    ({**PAIR, "key": "node_key"}, "key_pairs[0].key", "environment variable name"),
    ({**PAIR, "comment": "x"}, "key_pairs[0].comment", "Extra inputs are not permitted"),
])
def test_a_malformed_pair_is_refused_naming_host_and_field(pair, field, message):
    problems = _problems(production_hosts("aitbc", _chain_secrets("NODE_KEY", "NODE_ADDRESS"),
                                          _pairs(pair)))
    # The host refused, others' references to it are named too (at1 proxies to it).
    mine = [p for p in problems if p.startswith("host aitbc [groups: ")]
    assert len(mine) == 1 and f": {field}: " in mine[0] and message in mine[0]


def test_a_pair_names_two_single_secrets_of_the_host():
    hosts = production_hosts("aitbc", _chain_secrets("NODE_KEY"), _pairs(
        PAIR, {**PAIR, "key": "ADMIN_API_KEYS", "address": "SESSION_SECRET"}))
    assert _problems(hosts) == [
        "host aitbc: key_pairs[0].address: 'NODE_ADDRESS' is no secret of this host's apps or "
        "generated files",
        "host aitbc: key_pairs[1].key: 'ADMIN_API_KEYS' is a list secret (secret_lists): a key "
        "or an address is one value"]
    # A secret of another host of the site is not this host's.
    hosts = production_hosts("at1", _pairs({**PAIR, "key": "JWT_SECRET",
                                            "address": "SESSION_SECRET"}))
    assert _problems(hosts) == [
        "host at1: key_pairs[0].key: 'JWT_SECRET' is no secret of this host's apps or "
        "generated files",
        "host at1: key_pairs[0].address: 'SESSION_SECRET' is no secret of this host's apps or "
        "generated files"]


def test_a_secret_in_two_pairs_is_refused():
    hosts = production_hosts("aitbc", _chain_secrets("NODE_KEY", "NODE_ADDRESS", "OTHER_KEY"),
                             _pairs(PAIR, {**PAIR, "key": "OTHER_KEY"}))
    assert _problems(hosts) == ["host aitbc: key_pairs[1].address: 'NODE_ADDRESS' is also "
                                "key_pairs[0].address: a secret is in one pair at most"]


def test_two_hosts_of_a_site_may_declare_one_pair_but_not_pair_a_name_twice():
    def with_at1(pair: dict):
        hosts = production_hosts("aitbc", _chain_secrets("NODE_KEY", "NODE_ADDRESS"),
                                 _pairs(PAIR))
        for _, _, data in hosts:
            if data["node"] == "at1":
                _chain_secrets("NODE_KEY", "OTHER_ADDRESS", "NODE_ADDRESS")(data)
                _pairs(pair)(data)
        return hosts

    fleet = build_fleet(with_at1(PAIR))
    assert fleet.key_pairs() == [("at1", KeyPair(**PAIR))]  # once for the site
    assert _problems(with_at1({**PAIR, "address": "OTHER_ADDRESS"})) == [
        "host aitbc: key_pairs[0].key: 'NODE_KEY' is also in another pair of site at1 (host "
        "at1, key_pairs[0].key): one value cannot match two; declare the same pair"]


def test_a_pair_is_shared_between_sites_whole_or_not_at_all():
    def shared(*names: str):
        def edit(data: dict) -> None:
            data["shared_secrets"] = list(names)
        return edit

    hosts = production_hosts("aitbc", _chain_secrets("NODE_KEY", "NODE_ADDRESS"), _pairs(PAIR))
    for _, _, data in hosts:
        shared("NODE_KEY")(data)
    assert _problems(hosts) == [
        "host aitbc: key_pairs[0]: one of 'NODE_KEY' and 'NODE_ADDRESS' is in shared_secrets, "
        "the other not: a pair is shared between sites whole or not at all"]


# --- The values, before any connection --------------------------------------------------------


def _environ(key: str, address: str, **more: str) -> dict[str, str]:
    values = {**AT1, "NODE_KEY": key, "NODE_ADDRESS": address}
    environ = {env_name(name, "at1"): value for name, value in values.items()}
    environ.update({env_name(name, "ns3-root"): value for name, value in NS3.items()})
    return {**environ, **more}


def test_a_matching_pair_is_accepted_in_any_spelling_aitbc_reads():
    fleet = _fleet(_pairs(PAIR))
    for address in (ADDRESS_DOC, ADDRESS_DOC.lower(), "aitbc1" + ADDRESS_DOC[2:]):
        store = SecretStore.for_fleet(fleet, environ=_environ(KEY_DOC, address))
        assert store.lookup("aitbc", "NODE_ADDRESS") == address
    result = check_secrets(fleet, environ=_environ(KEY_DOC, ADDRESS_DOC))
    assert result.ok and result.detail.endswith("none shared between sites; key pairs: 1 of 1 "
                                                "given here, each matching")


def test_a_mismatched_pair_is_refused_naming_site_and_secrets_never_a_value(tmp_path):
    fleet = _fleet(_pairs(PAIR))
    environ = _environ(KEY_ONE, ADDRESS_DOC)
    with pytest.raises(RefusedSecretValues) as exc:
        SecretStore.for_fleet(fleet, environ=environ)
    expected = ("NODE_KEY and NODE_ADDRESS for site at1 (environment NODE_KEY__AT1; environment "
                "NODE_ADDRESS__AT1): not a secp256k1-ethereum key pair: the key does not derive "
                "to the address (it controls another one)")
    assert str(exc.value).splitlines() == ["secret values refused:", f"  - {expected}"]
    # `check` says the same, offline, and so does a file (its lines named).
    assert check_secrets(fleet, environ=environ).detail == expected
    path = tmp_path / "secrets.env"
    path.write_text(f"[at1]\nNODE_KEY={KEY_DOC}\nNODE_ADDRESS={ADDRESS_ONE}\n")
    from_file = check_secrets(Fleet({n: s.model_copy(update={"secrets_file": str(path)})
                                     for n, s in fleet.hosts.items()}), environ={})
    assert from_file.detail == (
        f"NODE_KEY and NODE_ADDRESS for site at1 ({path}:2; {path}:3): not a secp256k1-ethereum "
        "key pair: the key does not derive to the address (it controls another one)")
    for text in (str(exc.value), from_file.detail):
        _assert_no_value(text, KEY_ONE, KEY_DOC, KEY_DOC[2:], ADDRESS_DOC, ADDRESS_DOC[2:],
                         ADDRESS_ONE, ADDRESS_ONE[2:], "7e5f4552091a", "4c0883a69102")


@pytest.mark.parametrize("hostile", HOSTILE[:10], ids=range(10))
def test_a_hostile_key_is_refused_without_showing_it(hostile):
    fleet = _fleet(_pairs(PAIR))
    with pytest.raises(RefusedSecretValues) as exc:
        SecretStore.for_fleet(fleet, environ=_environ(hostile, ADDRESS_DOC))
    message = str(exc.value)
    assert ("NODE_KEY and NODE_ADDRESS for site at1 (environment NODE_KEY__AT1; environment "
            "NODE_ADDRESS__AT1): not a secp256k1-ethereum key pair: the key is not 64 hex digits"
            in message)
    _assert_no_value(message, KEY_DOC[2:12], hostile.strip())


def test_a_huge_address_is_refused_without_showing_it():
    huge = "0x" + "ab" * 500_000
    message = check_secrets(_fleet(_pairs(PAIR)), environ=_environ(KEY_DOC, huge)).detail
    assert message.endswith("the address is not an address: 0x, ait1 or aitbc1 and 40 hex digits")
    assert len(message) < 300


def test_a_pair_missing_a_value_is_reported_missing_not_mismatched():
    fleet = _fleet(_pairs(PAIR))
    environ = _environ(KEY_DOC, ADDRESS_DOC)
    del environ["NODE_ADDRESS__AT1"]
    with pytest.raises(MissingSecrets) as exc:
        SecretStore.for_fleet(fleet, environ=environ)
    assert "  - NODE_ADDRESS for site at1 (host aitbc, app blockchain-node)" in str(exc.value)
    assert "key pair" not in str(exc.value)
    # `check` requires no value: the key alone is no mismatch.
    result = check_secrets(fleet, environ=environ)
    assert result.ok and result.detail.endswith("; key pairs: 0 of 1 given here, each matching")


# --- The sandbox ------------------------------------------------------------------------------


def _values(path: Path) -> dict[tuple[str | None, str], str]:
    return {(s.site, s.name): s.value for s in read_secrets_file(path)}


def _with_file(fleet: Fleet, path: Path) -> Fleet:
    return Fleet({n: s.model_copy(update={"secrets_file": str(path)})
                  for n, s in fleet.hosts.items()})


def test_the_sandbox_makes_a_matching_pair_and_keeps_it(tmp_path):
    fleet = _fleet(_pairs(PAIR))
    path = tmp_path / "secrets.env"
    write_sandbox_secrets(path, fleet)
    values = _values(path)
    key, address = values["at1", "NODE_KEY"], values["at1", "NODE_ADDRESS"]
    assert SECP256K1.problem(key, address) is None and address.startswith("0x")
    SecretStore.for_fleet(_with_file(fleet, path), environ={})  # accepted as a whole
    text = path.read_text()
    write_sandbox_secrets(path, fleet)
    assert path.read_text() == text  # a second `up` changes nothing


def test_the_sandbox_replaces_a_pair_that_does_not_match_and_keeps_one_that_does(tmp_path):
    path = tmp_path / "secrets.env"
    # Made before the pair was declared: two random strings.
    write_sandbox_secrets(path, _fleet())
    before = _values(path)
    fleet = _fleet(_pairs(PAIR))
    write_sandbox_secrets(path, fleet)
    after = _values(path)
    assert SECP256K1.problem(after["at1", "NODE_KEY"], after["at1", "NODE_ADDRESS"]) is None
    assert after["at1", "NODE_KEY"] != before["at1", "NODE_KEY"]
    assert {k: v for k, v in after.items() if k[1] not in ("NODE_KEY", "NODE_ADDRESS")} == \
        {k: v for k, v in before.items() if k[1] not in ("NODE_KEY", "NODE_ADDRESS")}
    # An operator's matching pair, in any spelling, is kept as written.
    text = path.read_text()
    text = text.replace(after["at1", "NODE_KEY"], KEY_DOC)
    text = text.replace(after["at1", "NODE_ADDRESS"], "ait1" + ADDRESS_DOC[2:].lower())
    path.write_text(text)
    write_sandbox_secrets(path, fleet)
    assert path.read_text() == text


def test_the_sandbox_makes_one_pair_for_every_site_of_a_shared_pair(tmp_path):
    hosts = []
    for name, groups, data in production_hosts("aitbc"):
        if data["node"] in ("aitbc", "ns3-aitbc"):
            _chain_secrets("NODE_KEY", "NODE_ADDRESS")(data)
            _pairs(PAIR)(data)
        data["shared_secrets"] = ["NODE_KEY", "NODE_ADDRESS"]
        hosts.append((name, groups, data))
    fleet = build_fleet(hosts)
    assert [site for site, _ in fleet.key_pairs()] == ["at1", "ns3-root"]
    path = tmp_path / "secrets.env"
    write_sandbox_secrets(path, fleet)
    values = _values(path)
    assert SECP256K1.problem(values[None, "NODE_KEY"], values[None, "NODE_ADDRESS"]) is None
    assert not {k for k in values if k[0] and k[1] in ("NODE_KEY", "NODE_ADDRESS")}
    SecretStore.for_fleet(_with_file(fleet, path), environ={})


# --- The docs ---------------------------------------------------------------------------------


def test_the_docs_name_each_sites_pairs_and_only_when_there_are_some(fleet):
    docs = render_docs(_fleet(_pairs(PAIR)))
    assert "`NODE_KEY` and `NODE_ADDRESS` (secp256k1-ethereum) at at1." in docs
    assert "Key pairs" not in render_docs(fleet)
