"""Validates rdapd's answers with an independent RDAP client library (PyPI `rdap`).

Usage: python rdap_client_check.py BASE_URL IDN_A_LABEL IDN_U_LABEL. Fetches a domain (A- and U-label), a name
server, a contact and a registrar through the library's client, parses each answer into
the library's pydantic RFC 9083 models (dates, links, events, vCards are type-checked),
checks a missing domain raises the library's not-found error, and prints `ok`.
"""

import sys

import rdap
from rdap.exceptions import RdapNotFoundError
from rdap.schema import rdap as schema


def main(base, idn_a, idn_u):
    client = rdap.RdapClient({"bootstrap_url": base, "self_bootstrap": False})
    d = client.get_domain("test.coop")
    dom = schema.Domain(**d.data)
    assert dom.ldhName == "test.coop", dom.ldhName
    assert dom.objectClassName == "domain"
    assert "rdap_level_0" in dom.rdapConformance
    assert any(e.eventAction == "registration" for e in dom.events)
    assert [n.ldhName for n in dom.nameservers] == ["dns0.nic.coop", "dns1.nic.coop"]
    roles = {r for e in dom.entities for r in e.roles}
    assert {"registrant", "registrar"} <= roles, roles
    norm = d.normalized
    assert norm["name"] == "test.coop", norm
    # The public sees no e-mail addresses of contacts.
    assert d.parsed()["emails"] == [], d.parsed()

    idn = schema.Domain(**client.get_domain(idn_u).data)
    assert idn.ldhName == idn_a, (idn.ldhName, idn_a)

    ns = client.get_data(base + "nameserver/dns0.nic.coop")
    assert schema.Nameserver(**ns).ipAddresses["v4"] == ["10.10.10.10"], ns

    reg = schema.Entity(**client.get_entity("REG-42").data)
    assert reg.handle == "REG-42" and "registrar" in reg.roles
    contact = schema.Entity(**client.get_entity("CNT-1002").data)
    assert contact.handle == "CNT-1002"

    try:
        client.get_domain("no-such-domain-here.coop")
    except RdapNotFoundError:
        pass
    else:
        raise AssertionError("a missing domain did not raise RdapNotFoundError")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
