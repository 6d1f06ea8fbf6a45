"""The transparency page: for each service, its data sources, training data, version, measured
accuracy and known limits, in Chinese (default) or English.

The texts are data (``data/transparency.yaml``); the figures come from ``data/metrics.json``,
written by ``scripts/bench_assistant.py --write-metrics`` from the shipped test sets. A test
recomputes the figures and fails when the file no longer matches what the code measures, so
the page cannot claim more than is true.
"""

from __future__ import annotations

import html
import json
from functools import cache
from typing import Any

from clients.assistant import __version__
from clients.assistant.cds.schemas import CDS_HOOKS_VERSION
from clients.assistant.loader import data_dir, load_yaml

LABELS = {
    "zh": {
        "title": "全科医生智能工作站 · 透明度说明",
        "version": "版本",
        "measured": "测量日期",
        "other": ("en", "English"),
        "notice": "所有输出均为建议，须由医生确认；医生可在每张卡片上说明拒绝理由。",
        "sources": "数据来源",
        "training": "训练数据",
        "accuracy": "实测准确率",
        "limits": "已知局限",
        "by_kind": "按短语类型",
    },
    "en": {
        "title": "GP workstation assistant: transparency",
        "version": "Version",
        "measured": "measured",
        "other": ("zh", "中文"),
        "notice": "Every output is a suggestion the clinician confirms; each card can be "
        "overridden with a reason.",
        "sources": "Data sources",
        "training": "Training data",
        "accuracy": "Measured accuracy",
        "limits": "Known limits",
        "by_kind": "By kind of phrase",
    },
}


@cache
def metrics() -> dict[str, Any]:
    """The published figures (``data/metrics.json``)."""
    loaded: dict[str, Any] = json.loads((data_dir() / "metrics.json").read_text(encoding="utf-8"))
    return loaded


@cache
def texts() -> list[dict[str, Any]]:
    """The page's texts per service (``data/transparency.yaml``)."""
    data, _ = load_yaml(data_dir() / "transparency.yaml", "transparency")
    services: list[dict[str, Any]] = data["services"]
    return services


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _fill(text: str) -> str:
    m = metrics()
    return text.format(
        coding=m["coding"],
        intake=m["intake"],
        coding_top1_pct=_pct(m["coding"]["top1"]),
        coding_top5_pct=_pct(m["coding"]["top5"]),
        intake_top1_pct=_pct(m["intake"]["top1"]),
        intake_top3_pct=_pct(m["intake"]["top3"]),
    )


def render(lang: str = "zh") -> str:
    """The page as HTML (``lang`` is ``zh`` or ``en``; anything else reads as ``zh``)."""
    lang = "en" if lang == "en" else "zh"
    label = LABELS[lang]
    esc = html.escape
    other_lang, other_name = label["other"]
    parts = [
        "<!doctype html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{esc(label['title'])}</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.5}"
        "section{border-top:1px solid #ccc;margin-top:1.5rem}td,th{padding:0 .6rem}</style>",
        "</head><body>",
        f"<h1>{esc(label['title'])}</h1>",
        f"<p>{label['version']} {esc(__version__)} · CDS Hooks {CDS_HOOKS_VERSION} · "
        f"{label['measured']} {esc(metrics()['measured'])} · "
        f'<a href="?lang={other_lang}">{other_name}</a></p>',
        f"<p><strong>{esc(label['notice'])}</strong></p>",
    ]
    for service in texts():
        parts.append(f'<section id="{esc(service["id"])}"><h2>{esc(service["title"][lang])}</h2>')
        parts.append(f"<h3>{label['sources']}</h3><ul>")
        parts += [f"<li>{esc(_fill(s[lang]))}</li>" for s in service["sources"]]
        parts.append(f"</ul><h3>{label['training']}</h3>")
        parts.append(f"<p>{esc(_fill(service['training'][lang]))}</p>")
        parts.append(f"<h3>{label['accuracy']}</h3>")
        parts.append(f"<p>{esc(_fill(service['accuracy'][lang]))}</p>")
        if service["id"] == "icd10-coding":
            parts.append(f"<p>{label['by_kind']}</p><table>")
            parts.append("<tr><th>kind</th><th>n</th><th>top-1</th><th>top-5</th></tr>")
            for kind, row in metrics()["coding"]["by_kind"].items():
                parts.append(
                    f"<tr><td>{esc(kind)}</td><td>{row['n']}</td><td>{_pct(row['top1'])}</td>"
                    f"<td>{_pct(row['top5'])}</td></tr>"
                )
            parts.append("</table>")
        parts.append(f"<h3>{label['limits']}</h3><ul>")
        parts += [f"<li>{esc(_fill(s[lang]))}</li>" for s in service["limits"]]
        parts.append("</ul></section>")
    parts.append("</body></html>")
    return "\n".join(parts)
