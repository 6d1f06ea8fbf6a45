"""The demo's part for the gateway: the county hospital's gateway picks up a new lab result
from its own HIS (an embedded SQLite file, so ``make run`` needs nothing installed) and shares
it into the patient's MedLedger chart, where the patient and the cardiologist see it.

The lead wires :func:`county_lab_result` into ``clients/demo``; it needs the API's URL, the
account the gateway signs as (today an enrolled clinician of the county hospital; the
institution's ``Gateway`` account once that role exists) and the patient's wallet address.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from clients.gateway.connectors.sql import engine_for
from clients.gateway.runtime import Runtime
from clients.gateway.sample.his import HisGenerator, create_his, his_tables, seed_his
from clients.gateway.sample.project import SampleOptions, write_sample
from clients.gateway.sink.ledger import sdk_factory
from clients.gateway.sink.medledger import record_id_for

DEMO_PATIENT = "P000001"


@dataclass
class DemoResult:
    record_id: str  # the new lab result's record id in MedLedger
    observation: dict[str, Any]  # the FHIR Observation that was shared
    shared: int  # records shared in this run (history first, then the new result)
    folder: Path  # the gateway folder (YAML, state) for the curious


def county_lab_result(
    workdir: Path,
    *,
    medledger_url: str,
    gateway_account: LocalAccount,
    patient_wallet: str,
    policy: str = "dept:cardiology",
    institution: str = "pjxrmyy",
) -> DemoResult:
    """Set up the county hospital's HIS and gateway in ``workdir`` (first call), link the demo
    patient to ``patient_wallet``, add a new troponin result to the HIS and let the gateway
    capture, map, validate and share it. Returns the shared record's id and resource."""
    workdir = Path(workdir)
    his_url = f"sqlite:///{workdir / 'his.db'}"
    folder = workdir / "gateway"
    tables = his_tables("his_")
    engine = engine_for(his_url)
    if not (folder / "gateway.yaml").exists():
        workdir.mkdir(parents=True, exist_ok=True)
        write_sample(
            folder,
            SampleOptions(
                his_url=his_url,
                medledger_url=medledger_url,
                policy=policy,
                institution=institution,
                source_system=f"his.{institution}",
                delay_s=0.0,
            ),
        )
        create_his(engine, tables)
        seed_his(engine, tables, patients=3, labs_each=1)
    runtime = Runtime(
        folder, open_client=sdk_factory(medledger_url, gateway_account), with_topics=False
    )
    try:
        assert runtime.sink is not None
        runtime.sink.link(DEMO_PATIENT, patient_wallet)
        generator = HisGenerator(seed=int(dt.datetime.now().timestamp()))
        row = generator.lab_result(DEMO_PATIENT, "E00000001")
        row.update(
            loinc="10839-9",
            item_name="肌钙蛋白I",
            value=0.52,
            unit="ng/mL",
            ref_low=0.0,
            ref_high=0.04,
        )
        with engine.begin() as conn:
            new_id = conn.execute(tables.lab_result.insert(), row).inserted_primary_key[0]
        runtime.run_once()
        shared = 0
        while runtime.sink.counts().get("pending"):
            settled = runtime.sink.drain()
            if not settled:
                break
            shared += settled
        record_id = (
            "0x"
            + record_id_for(
                runtime.sink.secret, f"his.{institution}", "his_lab_result", str(new_id)
            ).hex()
        )
        [stored] = runtime.store.query("SELECT state FROM shared WHERE record_id = ?", record_id)
        if stored["state"] != "shared":
            from clients.gateway.errors import SinkError

            raise SinkError(
                f"the new lab result is {stored['state']}, not shared: is MedLedger up?"
            )
        mapper = runtime.gateway.runners["lab-results"].mappers["observation"]
        from clients.gateway.connectors.sql import row_dict

        with engine.connect() as conn:
            fresh = row_dict(
                conn.execute(
                    tables.lab_result.select().where(tables.lab_result.c.id == new_id)
                ).one()
            )
        return DemoResult(record_id, mapper.apply(fresh).resource, shared, folder)
    finally:
        runtime.stop()
