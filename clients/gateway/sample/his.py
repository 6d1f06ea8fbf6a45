"""A small synthetic hospital information system (HIS): schema and data generator.

Tables (SQLAlchemy Core, so the same code creates them on SQLite, MariaDB and PostgreSQL):
``patient`` (姓名, sex, birth date, a resident ID number with a valid GB 11643 check digit),
``encounter`` (门诊/住院, department), ``lab_result`` (LOINC-coded, UCUM units, Chinese item
names), ``diagnosis`` (ICD-10) and ``prescription``. Timestamps are naive UTC; ``updated_at``
carries microseconds so the watermark can order rows. A ``prefix`` lets tests put their own
tables in a shared database. The generator is deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶"
SURNAMES += "程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍鹏建华红梅"
GIVEN += "志强晨阳思远雨欣子涵浩然佳怡梓轩"
DEPARTMENTS = ["心血管内科", "内分泌科", "呼吸内科", "全科医学科", "检验科", "急诊科"]
# (LOINC, 中文名, UCUM unit, low, high)
LABS = [
    ("2345-7", "葡萄糖", "mmol/L", 3.9, 6.1),
    ("718-7", "血红蛋白", "g/L", 115, 150),
    ("2160-0", "肌酐", "umol/L", 44, 133),
    ("6690-2", "白细胞计数", "10*9/L", 3.5, 9.5),
    ("777-3", "血小板计数", "10*9/L", 125, 350),
    ("2093-3", "总胆固醇", "mmol/L", 2.8, 5.2),
    ("4548-4", "糖化血红蛋白", "%", 4.0, 6.0),
    ("2823-3", "钾", "mmol/L", 3.5, 5.3),
    ("1742-6", "丙氨酸氨基转移酶", "U/L", 7, 40),
    ("10839-9", "肌钙蛋白I", "ng/mL", 0.0, 0.04),
]
DIAGNOSES = [
    ("I10", "原发性高血压"),
    ("E11.9", "2型糖尿病"),
    ("I21.0", "急性前壁心肌梗死"),
    ("J18.9", "肺炎"),
    ("I25.1", "动脉粥样硬化性心脏病"),
    ("E78.5", "高脂血症"),
]
DRUGS = [
    ("86900234000012", "阿司匹林肠溶片", 100, "mg", "qd"),
    ("86900234000029", "二甲双胍片", 500, "mg", "bid"),
    ("86900234000036", "阿托伐他汀钙片", 20, "mg", "qn"),
    ("86900234000043", "硝苯地平控释片", 30, "mg", "qd"),
]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"


def resident_id(rng: random.Random, birth: dt.date) -> str:
    """An 18-character resident ID (GB 11643-1999) with a correct check character."""
    body = f"510131{birth:%Y%m%d}{rng.randint(0, 999):03d}"  # 510131: 成都市蒲江县
    return body + ID_CHECK[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


@dataclass
class HisTables:
    metadata: sa.MetaData
    patient: sa.Table
    encounter: sa.Table
    lab_result: sa.Table
    diagnosis: sa.Table
    prescription: sa.Table

    def names(self) -> dict[str, str]:
        return {
            t: getattr(self, t).name
            for t in ("patient", "encounter", "lab_result", "diagnosis", "prescription")
        }


def his_tables(prefix: str = "his_") -> HisTables:
    md = sa.MetaData()
    ts = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    patient = sa.Table(
        f"{prefix}patient",
        md,
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("id_card", sa.String(18), nullable=False),
        sa.Column("phone", sa.String(16)),
        sa.Column("updated_at", ts, nullable=False, index=True),
    )
    encounter = sa.Table(
        f"{prefix}encounter",
        md,
        sa.Column("id", sa.String(20), primary_key=True),
        sa.Column("patient_id", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("department", sa.String(32), nullable=False),
        sa.Column("started_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False, index=True),
    )
    lab_result = sa.Table(
        f"{prefix}lab_result",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.String(16), nullable=False),
        sa.Column("encounter_id", sa.String(20)),
        sa.Column("loinc", sa.String(10), nullable=False),
        sa.Column("item_name", sa.String(64), nullable=False),
        sa.Column("value", sa.Numeric(12, 4)),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("ref_low", sa.Numeric(12, 4)),
        sa.Column("ref_high", sa.Numeric(12, 4)),
        sa.Column("status", sa.String(12), nullable=False, server_default="final"),
        sa.Column("collected_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False, index=True),
    )
    diagnosis = sa.Table(
        f"{prefix}diagnosis",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.String(16), nullable=False),
        sa.Column("encounter_id", sa.String(20)),
        sa.Column("icd10", sa.String(10), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("diagnosed_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False, index=True),
    )
    prescription = sa.Table(
        f"{prefix}prescription",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.String(16), nullable=False),
        sa.Column("drug_code", sa.String(20), nullable=False),
        sa.Column("drug_name", sa.String(64), nullable=False),
        sa.Column("dose", sa.Numeric(10, 2), nullable=False),
        sa.Column("dose_unit", sa.String(8), nullable=False),
        sa.Column("frequency", sa.String(8), nullable=False),
        sa.Column("prescribed_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False, index=True),
    )
    return HisTables(md, patient, encounter, lab_result, diagnosis, prescription)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class HisGenerator:
    """Deterministic synthetic rows for one hospital."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self._patients = 0
        self._encounters = 0

    def patient(self) -> dict[str, Any]:
        rng = self.rng
        self._patients += 1
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 29000))
        given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        return {
            "id": f"P{self._patients:06d}",
            "name": rng.choice(SURNAMES) + given,
            "sex": rng.choice("MF"),
            "birth_date": birth,
            "id_card": resident_id(rng, birth),
            "phone": f"1{rng.choice('3578')}{rng.randint(0, 999999999):09d}",
            "updated_at": utcnow(),
        }

    def encounter(self, patient_id: str) -> dict[str, Any]:
        self._encounters += 1
        now = utcnow()
        return {
            "id": f"E{self._encounters:08d}",
            "patient_id": patient_id,
            "kind": self.rng.choice(["门诊", "住院"]),
            "department": self.rng.choice(DEPARTMENTS),
            "started_at": now,
            "updated_at": now,
        }

    def lab_result(
        self,
        patient_id: str,
        encounter_id: str | None = None,
        *,
        updated_at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        loinc, name, unit, low, high = self.rng.choice(LABS)
        span = high - low
        value = max(0.0, round(self.rng.uniform(low - span * 0.2, high + span * 0.3), 2))
        when = updated_at or utcnow()
        return {
            "patient_id": patient_id,
            "encounter_id": encounter_id,
            "loinc": loinc,
            "item_name": name,
            "value": value,
            "unit": unit,
            "ref_low": low,
            "ref_high": high,
            "status": "final",
            "collected_at": when,
            "updated_at": when,
        }

    def diagnosis(self, patient_id: str, encounter_id: str | None = None) -> dict[str, Any]:
        code, name = self.rng.choice(DIAGNOSES)
        now = utcnow()
        return {
            "patient_id": patient_id,
            "encounter_id": encounter_id,
            "icd10": code,
            "name": name,
            "diagnosed_at": now,
            "updated_at": now,
        }

    def prescription(self, patient_id: str) -> dict[str, Any]:
        code, name, dose, unit, freq = self.rng.choice(DRUGS)
        now = utcnow()
        return {
            "patient_id": patient_id,
            "drug_code": code,
            "drug_name": name,
            "dose": dose,
            "dose_unit": unit,
            "frequency": freq,
            "prescribed_at": now,
            "updated_at": now,
        }


def create_his(engine: sa.Engine, tables: HisTables) -> None:
    tables.metadata.create_all(engine)


def seed_his(
    engine: sa.Engine, tables: HisTables, *, patients: int = 5, labs_each: int = 2, seed: int = 7
) -> list[str]:
    """Create patients, an encounter each, lab results and a diagnosis; returns patient ids."""
    gen = HisGenerator(seed)
    ids = []
    with engine.begin() as conn:
        for _ in range(patients):
            p = gen.patient()
            conn.execute(tables.patient.insert(), p)
            e = gen.encounter(p["id"])
            conn.execute(tables.encounter.insert(), e)
            for _ in range(labs_each):
                conn.execute(tables.lab_result.insert(), gen.lab_result(p["id"], e["id"]))
            conn.execute(tables.diagnosis.insert(), gen.diagnosis(p["id"], e["id"]))
            ids.append(p["id"])
    return ids
