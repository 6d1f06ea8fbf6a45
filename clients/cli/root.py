"""The ``medledger`` command tree: one typer app, one sub-app per audience, loaded on use.

Each group lives in its own module of this package (``node``, ``authority``, ``wallet``,
``admin``, ``patient``, ``doctor``, ``auditor``, ``referral``, ``consult``, ``serve``,
``demo``; ``gateway`` and ``assistant`` live in their own packages under ``clients/``);
commands that several groups share live in a module named for what they do
(``timeline``, ``import_labs``, ``break_glass``, ``consent_file``, ``rekey``, ``epochs``) and
are named lazily by the groups that offer them. Nothing here imports a group: the root lists
them by name and one-line summary (:mod:`clients.cli.lazy`), so ``medledger --help`` and
``--version`` import typer and nothing of ours beyond this package's root.
Every command reports failures of ours as one line on stderr with a non-zero exit, never a
traceback: the user needs to know what to fix, not where in our code it was noticed.
"""

from __future__ import annotations

import typer

from clients.cli.lazy import Lazy, lazy_group

GROUPS = {
    "node": Lazy("clients.cli.node:node_app", "Run the local development chain (anvil)."),
    "authority": Lazy(
        "clients.cli.authority:authority_app", "Create and check the key authority's keys."
    ),
    "wallet": Lazy(
        "clients.cli.wallet:wallet_app",
        "Create, import, list and export wallets (encrypted keystores).",
    ),
    "admin": Lazy(
        "clients.cli.admin:admin_app",
        "Consortium membership: institutions and members (signed with your admin key).",
    ),
    "patient": Lazy(
        "clients.cli.patient:patient_app",
        "Patients: share records, grant and revoke access, see who read them.",
    ),
    "doctor": Lazy(
        "clients.cli.doctor:doctor_app",
        "Clinicians: sign in, fetch the attribute key, list and decrypt records.",
    ),
    "auditor": Lazy(
        "clients.cli.auditor:auditor_app",
        "Auditors: the on-chain access log and verification of index and store.",
    ),
    "referral": Lazy(
        "clients.cli.referral:referral_app", "Two-way referral (双向转诊) between institutions."
    ),
    "consult": Lazy(
        "clients.cli.consult:consult_app", "Remote consultation (远程会诊) with invited clinicians."
    ),
    "gateway": Lazy(
        "clients.gateway.cli:gateway_app",
        "A hospital's interface platform (医联体接口平台): APIs, flows, topics, the sink.",
    ),
    "assistant": Lazy(
        "clients.assistant.cli:assistant_app",
        "The GP assistant (全科医生智能工作站): ICD-10 coding, intake, record checks.",
    ),
    "outbox": Lazy(
        "clients.cli.outbox:outbox_app",
        "Shares kept on this machine until the API acknowledged them: list, flush, drop.",
    ),
    "serve": Lazy("clients.cli.serve:serve", "Run the MedLedger API (uvicorn)."),
    "demo": Lazy(
        "clients.cli.demo:demo", "Run the consortium story end to end (the main job of make run)."
    ),
}

app = typer.Typer(
    name="medledger",
    no_args_is_help=True,
    add_completion=False,
    cls=lazy_group(GROUPS),
    # the root's help in click's plain format: rich's help renderer would double the
    # start-up of `medledger --help` (the groups' pages keep it)
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"medledger {version('medledger')}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            typer.echo("medledger (not installed)")
        raise typer.Exit()


@app.callback()
def root(
    _show_version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """MedLedger: consortium sharing of encrypted patient records.

    Everyone starts with `medledger wallet new NAME`. A hospital's IT sets up a node with
    `medledger node up`, `authority init` and `serve` (docs/cli.md). Each command's --help
    has an example.
    """


def main() -> None:
    app()


if __name__ == "__main__":
    main()
