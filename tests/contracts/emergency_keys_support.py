"""Three institutions with registered key authorities, for the EmergencyKeys tests."""

from __future__ import annotations

from eth_account import Account
from eth_utils import keccak

from tests.contracts.helpers import Chain, b32


def signer(label: str):
    return Account.from_key(keccak(text="medledger test authority " + label))


def with_authorities(chain: Chain) -> Chain:
    """Three institutions, each with a registered key authority (signers a1, a2, a3)."""
    con = chain.c["Consortium"].functions
    third_admin = Account.from_key(keccak(text="medledger test inst c admin"))
    chain.send(
        "admin", con.addInstitution("青羊区社区卫生服务中心", b32("qingyang"), third_admin.address)
    )
    for inst, admin in ((1, "inst_a_admin"), (2, "inst_b_admin"), (3, third_admin)):
        chain.send(
            admin,
            con.registerAuthority(
                inst, b"\x11" * 32, signer(f"a{inst}").address, f"http://x/{inst}"
            ),
        )
    return chain


def with_fourth_authority(chain: Chain) -> Chain:
    """``with_authorities`` plus a fourth institution and its authority (signer a4)."""
    admin = Account.from_key(keccak(text="medledger test inst d admin"))
    con = chain.c["Consortium"].functions
    chain.send(
        "admin", con.addInstitution("成华区社区卫生服务中心", b32("chenghua"), admin.address)
    )
    chain.send(admin, con.registerAuthority(4, b"\x11" * 32, signer("a4").address, "http://x/4"))
    return chain
