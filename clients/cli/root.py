"""The ``medledger`` command tree: one typer app, one sub-app per audience.

Each group lives in its own module of this package (``node``, ``authority``, ``wallet``,
``admin``, ``patient``, ``doctor``, ``auditor``, ``referral``, ``consult``, ``serve``,
``demo``); commands that several groups share live in a module named for what they do
(``timeline``, ``import_labs``, ``break_glass``, ``consent_file``, ``rekey``, ``epochs``), and
the options, views and checks every command uses in ``common``, ``views`` and ``checks``.
Every command reports failures of ours as one line on stderr with a non-zero exit, never a
traceback: the user needs to know what to fix, not where in our code it was noticed.
"""

from __future__ import annotations

import typer

from clients.cli.admin import admin_app
from clients.cli.auditor import auditor_app
from clients.cli.authority import authority_app
from clients.cli.break_glass import (
    auditor_break_glass,
    auditor_review,
    doctor_break_glass,
    patient_break_glass,
)
from clients.cli.consent_file import sign_consent
from clients.cli.consult import consult_app
from clients.cli.demo import demo
from clients.cli.doctor import doctor_app
from clients.cli.epochs import epochs, rekey_epoch, rekey_stale
from clients.cli.import_labs import import_labs
from clients.cli.node import node_app
from clients.cli.patient import patient_app
from clients.cli.referral import referral_app
from clients.cli.rekey import rekey, renew
from clients.cli.serve import serve
from clients.cli.timeline import doctor_timeline, patient_timeline
from clients.cli.wallet import wallet_app

app = typer.Typer(
    name="medledger",
    help="MedLedger: consortium sharing of encrypted patient records.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(node_app, name="node")
app.add_typer(authority_app, name="authority")
app.add_typer(wallet_app, name="wallet")
app.add_typer(admin_app, name="admin")
patient_app.command("timeline")(patient_timeline)  # clients/cli/timeline.py
doctor_app.command("timeline")(doctor_timeline)
patient_app.command("import-labs")(import_labs)  # clients/cli/import_labs.py
doctor_app.command("break-glass")(doctor_break_glass)  # clients/cli/break_glass.py
auditor_app.command("break-glass")(auditor_break_glass)
auditor_app.command("review")(auditor_review)
patient_app.command("break-glass")(patient_break_glass)
app.add_typer(patient_app, name="patient")
app.add_typer(doctor_app, name="doctor")
app.add_typer(auditor_app, name="auditor")
app.add_typer(referral_app, name="referral")
app.add_typer(consult_app, name="consult")
patient_app.command("sign-consent")(sign_consent)  # clients/cli/consent_file.py
patient_app.command("rekey")(rekey)  # clients/cli/rekey.py
patient_app.command("renew")(renew)
patient_app.command("rekey-stale")(rekey_stale)  # clients/cli/epochs.py
admin_app.command("rekey-epoch")(rekey_epoch)
admin_app.command("epochs")(epochs)
app.command(name="serve")(serve)
app.command(name="demo")(demo)  # the main job of `make run` (clients/cli/demo.py)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
