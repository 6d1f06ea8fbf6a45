"""The ``medledger`` command line: one typer app, one sub-app per audience.

Sub-apps live in their own modules (``cli_node`` for the dev chain, ``cli_authority``,
``cli_wallet``, ``cli_admin``, ``cli_patient``, ``cli_doctor``, ``cli_auditor``,
``cli_referral`` and ``cli_consult`` for the workflows, ``cli_consent_file`` for ``patient
sign-consent``, ``cli_rekey`` for ``patient rekey`` / ``renew``, ``cli_emergency`` for
break-glass, ``cli_epochs`` for ``admin rekey-epoch`` / ``patient rekey-stale``,
``cli_serve``; ``cli_demo``; shared options and the error wrapper in ``cli_common``) so that
each stays small and testable on its own. Every command reports failures of ours as one line
on stderr with a non-zero exit, never a traceback: the user needs to know what to fix, not
where in our code it was noticed.
"""

from __future__ import annotations

import typer

from clients.cli_admin import admin_app
from clients.cli_auditor import auditor_app
from clients.cli_authority import authority_app
from clients.cli_consent_file import sign_consent
from clients.cli_consult import consult_app
from clients.cli_demo import demo
from clients.cli_doctor import doctor_app
from clients.cli_emergency import (
    auditor_break_glass,
    auditor_review,
    doctor_break_glass,
    patient_break_glass,
)
from clients.cli_epochs import epochs, rekey_epoch, rekey_stale
from clients.cli_import import import_labs
from clients.cli_node import node_app
from clients.cli_patient import patient_app
from clients.cli_referral import referral_app
from clients.cli_rekey import rekey, renew
from clients.cli_serve import serve
from clients.cli_timeline import doctor_timeline, patient_timeline
from clients.cli_wallet import wallet_app

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
patient_app.command("timeline")(patient_timeline)  # clients/cli_timeline.py
doctor_app.command("timeline")(doctor_timeline)
patient_app.command("import-labs")(import_labs)  # clients/cli_import.py
doctor_app.command("break-glass")(doctor_break_glass)  # clients/cli_emergency.py
auditor_app.command("break-glass")(auditor_break_glass)
auditor_app.command("review")(auditor_review)
patient_app.command("break-glass")(patient_break_glass)
app.add_typer(patient_app, name="patient")
app.add_typer(doctor_app, name="doctor")
app.add_typer(auditor_app, name="auditor")
app.add_typer(referral_app, name="referral")
app.add_typer(consult_app, name="consult")
patient_app.command("sign-consent")(sign_consent)  # clients/cli_consent_file.py
patient_app.command("rekey")(rekey)  # clients/cli_rekey.py
patient_app.command("renew")(renew)
patient_app.command("rekey-stale")(rekey_stale)  # clients/cli_epochs.py
admin_app.command("rekey-epoch")(rekey_epoch)
admin_app.command("epochs")(epochs)
app.command(name="serve")(serve)
app.command(name="demo")(demo)  # the main job of `make run` (clients/cli_demo.py)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
