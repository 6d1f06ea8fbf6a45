#!/usr/bin/env python3
"""Emergency (break-glass) opening by threshold: a 50-record chart with t = 2 of n = 4.

Real parts, one machine: an anvil node with the contracts, four institutions each with its
own key authority (key file, ``medledger authority serve`` process, signer account
registered on chain), the consortium emergency key made by the four ``medledger authority
dkg join`` processes (GJKR DKG over the ``EmergencyKeys`` board), 50 records of one patient
registered on chain, each an envelope v3 of ``--record-kib`` KiB (default 4) with its
emergency slot.

Timed, end to end from the clinician's side, after the opening is on chain and the chart's
headers and bodies are in hand (the API's part of an emergency read is the same as any read,
measured by ``scripts/bench_api.py``):

- ``emergency_50_records_s``: ask 2 authorities (in parallel) for their shares of all 50
  slots — each checks the request's signature and the opening on chain, checks every slot's
  proof, logs the release on chain (one transaction for the 50 records, mined) and answers;
  the client checks every share's proof, combines them and decrypts and verifies the 50
  bodies. Median of ``--runs`` openings (default 5). Target ≤ 2 s.
- ``dkg_s``: wall time of the four ``dkg join`` processes, started together, to a complete
  round (every message a transaction, mined), ``dkg init`` included; process start-up is in it.
- per-record costs (CPU, median of 200): an authority's work for one record
  (``share_ms``: slot proof check + decryption share with its proof), the client's check of
  one share (``verify_share_ms``) and the combination of t = 2 checked shares (``combine_ms``).

``--json`` prints one object with those keys.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from eth_account import Account  # noqa: E402
from eth_utils import keccak  # noqa: E402
from web3 import Web3  # noqa: E402

import contracts  # noqa: E402
from clients.sdk.emergency_shares import (  # noqa: E402
    EmergencySlot,
    open_emergency_slots,
    read_directory,
)
from crypto.envelope import (  # noqa: E402
    AccountSealer,
    AuthorityKey,
    RecordBinding,
    authority_digest,
    decrypt_bytes_v3,
    encrypt_bytes_v3,
    parse_header,
)
from crypto.keys import load_master_public_key  # noqa: E402
from crypto.patient_key import derive_from_account  # noqa: E402
from crypto.reach import Institution  # noqa: E402
from crypto.signing import BreakGlassOpen, RecordRegistration, sign  # noqa: E402
from crypto.signing.core import Domain  # noqa: E402
from crypto.threshold import slot  # noqa: E402
from crypto.threshold.tdh2 import (  # noqa: E402
    Ciphertext,
    combine,
    decrypt_share,
    emergency_label,
    encrypt,
    verify_share,
)
from ledger_api.authority.keyfile import init_key_file, public_part  # noqa: E402
from ledger_api.chain.anvil import AnvilProcess, free_port  # noqa: E402
from ledger_api.chain.deploy import deploy_all  # noqa: E402

DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PASSPHRASE = "bench emergency passphrase"
CODES = ("cd3h", "pujiang", "qingyang", "chenghua")
TARGET_S = 2.0
MEDLEDGER = [sys.executable, "-m", "clients.cli"]


class World:
    def __init__(self, tmp: Path, *, t: int, n: int, records: int, record_kib: int) -> None:
        self.tmp = tmp
        self.node = AnvilProcess(port=free_port(), log_file=tmp / "anvil.log")
        self.node.start()
        self.w3 = Web3(Web3.HTTPProvider(self.node.url))
        self.admin = Account.from_key(DEPLOYER_KEY)
        self.deployment = deploy_all(self.w3, deployer_key=DEPLOYER_KEY, relayer=self.admin.address)
        self.deployment_file = tmp / "deployment.json"
        self.deployment.save(self.deployment_file)
        self.c = {
            name: self.w3.eth.contract(address=address, abi=contracts.load(name)["abi"])
            for name, address in self.deployment.addresses().items()
        }
        self.doctor = Account.from_key(keccak(text="bench emergency doctor"))
        self.patient = Account.from_key(keccak(text="bench emergency patient"))
        self.t, self.n = t, n
        self.processes: list[subprocess.Popen[bytes]] = []
        self._consortium(records, record_kib)

    # -- chain writes as the deployer (consortium admin, every institution's admin, relayer)
    def send(self, contract: str, function: str, *args: Any) -> Any:
        call = self.c[contract].functions[function](*args)
        tx = call.build_transaction(
            {
                "from": self.admin.address,
                "nonce": self.w3.eth.get_transaction_count(self.admin.address),
                "gasPrice": 0,
                "chainId": self.w3.eth.chain_id,
            }
        )
        tx_hash = self.w3.eth.send_raw_transaction(self.admin.sign_transaction(tx).raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise RuntimeError(f"{contract}.{function} reverted")
        return receipt

    def domain(self, contract: str) -> Domain:
        return Domain.of(
            contract, chain_id=self.w3.eth.chain_id, verifying_contract=self.c[contract].address
        )

    def _consortium(self, records: int, record_kib: int) -> None:
        key_files = []
        for number, code in enumerate(CODES[: self.n], start=1):
            self.send(
                "Consortium",
                "addInstitution",
                code,
                code.encode().ljust(32, b"\0"),
                self.admin.address,
            )
            key_file = self.tmp / f"{code}.key"
            authority = init_key_file(key_file, PASSPHRASE, institution_id=number, log2_n=10)
            port = free_port()
            self.send(
                "Consortium",
                "registerAuthority",
                number,
                authority.digest,
                authority.signer.address,
                f"http://127.0.0.1:{port}",
            )
            key_files.append((number, key_file, port))
        self.send("Consortium", "enrolMember", self.doctor.address, 1, 1, [])
        self.send("EmergencyAccess", "setDailyCap", 1000)
        started = time.perf_counter()
        self.cli("authority", "dkg", "init", "--threshold", str(self.t), "--institutions",
                 ",".join(str(i) for i, _, _ in key_files), "--key-env", "ADMIN_KEY")  # fmt: skip
        joins = [
            subprocess.Popen(
                [
                    *MEDLEDGER,
                    "authority",
                    "dkg",
                    "join",
                    "--key-file",
                    str(key_file),
                    *self.where(),
                    "--passphrase-env",
                    "AUTH_PASS",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.env(),
            )
            for _, key_file, _ in key_files
        ]
        for process in joins:
            out, _ = process.communicate(timeout=600)
            if process.returncode != 0:
                raise RuntimeError(out.decode())
        self.dkg_s = time.perf_counter() - started
        for number, key_file, port in key_files:
            process = subprocess.Popen(
                [
                    *MEDLEDGER,
                    "authority",
                    "serve",
                    "--institution",
                    str(number),
                    "--port",
                    str(port),
                    "--key-file",
                    str(key_file),
                    *self.where(),
                    "--passphrase-env",
                    "AUTH_PASS",
                    "--rate",
                    "unlimited",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=self.env(),
            )
            self.processes.append(process)
            _wait(f"http://127.0.0.1:{port}/health", process)
        self.directory = read_directory(self.node.url, self.deployment.address("EmergencyKeys"))
        _, mpk_bytes, _ = public_part(key_files[0][1])
        mpk = load_master_public_key(mpk_bytes)
        authority = AuthorityKey(Institution(1, CODES[0], 1), mpk, authority_digest(mpk))
        patient_key = derive_from_account(self.patient).public_key
        wrap = slot.emergency_wrapper(self.directory.key)
        self.records = []
        body_plain = os.urandom(record_kib * 1024)
        for k in range(records):
            record_id = secrets.token_bytes(32)
            binding = RecordBinding(record_id=record_id, patient=self.patient.address)
            record, body = encrypt_bytes_v3(
                body_plain,
                authorities=[authority],
                policy="org:cd3h and role:doctor",
                patient_public_key=patient_key,
                binding=binding,
                sealer=AccountSealer(self.doctor),
                emergency=wrap,
            )
            registration = RecordRegistration(
                id=record_id,
                patient=self.patient.address,
                body_cid="bafkrei" + "a" * 52,
                header_cid="bafkrei" + "b" * 52,
                body_hash=keccak(body),
                policy_hash=keccak(text=str(k)),
                record_type=b"Observation".ljust(32, b"\0"),
                deadline=2**40,
            )
            signature = sign(self.domain("RecordRegistry"), registration, self.doctor.key)
            self.send(
                "RecordRegistry", "register", tuple(registration.message().values()), signature
            )
            header = parse_header(record.header_bytes)
            self.records.append((record.header_bytes, body, binding, header.emergency, body_plain))

    def open_chart(self) -> bytes:
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        self.w3.provider.make_request("evm_mine", [now + 2])  # records before the opening
        opening = BreakGlassOpen(
            id=secrets.token_bytes(32),
            patient=self.patient.address,
            reason_hash=keccak(text="unconscious on arrival"),
            window=4 * 3600,
            deadline=2**40,
        )
        signature = sign(self.domain("EmergencyAccess"), opening, self.doctor.key)
        self.send(
            "EmergencyAccess",
            "openBreakGlass",
            tuple(opening.message().values()),
            signature,
            0,
            b"",
        )
        return opening.id

    def emergency_read(self, opening_id: bytes) -> float:
        started = time.perf_counter()
        slots = [EmergencySlot(b.record_id, b.patient, raw) for _, _, b, raw, _ in self.records]
        keys = open_emergency_slots(
            directory=self.directory, opening_id=opening_id, slots=slots, clinician=self.doctor
        )
        for header, body, binding, _, plain in self.records:
            out = decrypt_bytes_v3(header, body, binding=binding, data_key=keys[binding.record_id])
            if out != plain:
                raise RuntimeError("a record decrypted wrongly")
        return time.perf_counter() - started

    def where(self) -> list[str]:
        return ["--rpc", self.node.url, "--deployment", str(self.deployment_file)]

    def env(self) -> dict[str, str]:
        return {**os.environ, "AUTH_PASS": PASSPHRASE, "ADMIN_KEY": DEPLOYER_KEY}

    def cli(self, *args: str) -> None:
        done = subprocess.run(
            [*MEDLEDGER, *args, *self.where()], capture_output=True, env=self.env(), timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr.decode() + done.stdout.decode())

    def close(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(timeout=10)
        self.node.stop()


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"authority exited ({url})")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"authority did not start ({url})")


def per_record_costs(world: World, samples: int = 200) -> dict[str, float]:
    """Median CPU costs of one record's share, one share check, one t = 2 combination."""
    from crypto.threshold.group import G, eval_poly, random_poly
    from crypto.threshold.keys import EmergencyPublicKey, SecretShare

    f = random_poly(1)
    shares = [SecretShare(key_round=1, index=i, x=eval_poly(f, i)) for i in (1, 2, 3, 4)]
    key = EmergencyPublicKey(
        key_round=1, t=2, n=4, h=G * f[0], verification_keys=tuple(G * s.x for s in shares)
    )
    label = emergency_label(record_id=bytes(32), patient=world.patient.address, key_round=1)
    ct = encrypt(key, os.urandom(32), label)
    raw = ct.to_bytes()
    share_t, verify_t, combine_t = [], [], []
    for _ in range(samples):
        t0 = time.perf_counter()
        parsed = Ciphertext.from_bytes(raw)
        s1 = decrypt_share(key, parsed, label, index=1, secret_share=shares[0].x)
        t1 = time.perf_counter()
        verify_share(key, parsed, s1)
        t2 = time.perf_counter()
        s2 = decrypt_share(key, parsed, label, index=2, secret_share=shares[1].x)
        t3 = time.perf_counter()
        combine(key, parsed, label, [s1, s2])
        t4 = time.perf_counter()
        share_t.append(t1 - t0)
        verify_t.append(t2 - t1)
        combine_t.append(t4 - t3)
    return {
        "share_ms": statistics.median(share_t) * 1000,
        "verify_share_ms": statistics.median(verify_t) * 1000,
        "combine_ms": statistics.median(combine_t) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--records", type=int, default=50)
    parser.add_argument("--record-kib", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("-t", type=int, default=2)
    parser.add_argument("-n", type=int, default=4)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-emergency-") as tmp:
        world = World(
            Path(tmp), t=options.t, n=options.n, records=options.records,
            record_kib=options.record_kib,
        )  # fmt: skip
        try:
            runs = [world.emergency_read(world.open_chart()) for _ in range(options.runs)]
            costs = per_record_costs(world)
        finally:
            world.close()
    key = f"emergency_{options.records}_records_s"
    result = {
        key: statistics.median(runs),
        f"{key}_best": min(runs),
        "dkg_s": world.dkg_s,
        "t": options.t,
        "n": options.n,
        "record_kib": options.record_kib,
        **costs,
    }
    if options.json:
        print(json.dumps(result))
        return
    print(f"emergency opening, t = {options.t} of n = {options.n}, {options.records} records "
          f"of {options.record_kib} KiB")  # fmt: skip
    print(f"{'measure':<34} {'value':>10}  target")
    print(f"{'chart decrypted (median s)':<34} {result[key]:>10.3f}  <= {TARGET_S} s")
    print(f"{'chart decrypted (best s)':<34} {result[key + '_best']:>10.3f}")
    print(f"{'DKG, 4 processes (s)':<34} {result['dkg_s']:>10.2f}")
    print(f"{'authority share per record (ms)':<34} {result['share_ms']:>10.2f}")
    print(f"{'client share check (ms)':<34} {result['verify_share_ms']:>10.2f}")
    print(f"{'combine t=2, checked (ms)':<34} {result['combine_ms']:>10.2f}")


if __name__ == "__main__":
    main()
