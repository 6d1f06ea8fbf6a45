"""Private MariaDB (binlog ROW) and PostgreSQL (wal_level=logical) servers for log-capture tests.

The machine's shared servers run with ``log_bin`` off and ``wal_level=replica`` and are never
restarted by tests; these fixtures initialise their own data directories in a temp folder,
start the servers on free loopback ports with the settings log-based capture needs, and stop
them (by their own pid) at the end of the session. PostgreSQL refuses to run as root, so its
data directory belongs to the ``postgres`` system user and its commands run as that user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ledger_api.chain.anvil import free_port


def _wait(check: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start in {timeout} s")


@contextmanager
def mariadb_server() -> Iterator[str]:
    """A MariaDB with ``log_bin``, ``binlog_format=ROW``, ``binlog_row_metadata=FULL``."""
    mariadbd = shutil.which("mariadbd") or shutil.which("mysqld") or "/usr/sbin/mariadbd"
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if not install or not Path(mariadbd).exists():
        raise RuntimeError("mariadbd and mariadb-install-db are needed for binlog capture tests")
    base = Path(tempfile.mkdtemp(prefix="medledger-gw-mariadb-"))
    data, sock, port = base / "data", base / "sock", free_port()
    subprocess.run(
        [
            install,
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--user=root",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    log = open(base / "server.log", "wb")  # noqa: SIM115 (closed after the server stops)
    proc = subprocess.Popen(
        [
            mariadbd,
            "--no-defaults",
            f"--datadir={data}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--socket={sock}",
            "--user=root",
            f"--log-bin={data}/binlog",
            "--binlog-format=ROW",
            "--binlog-row-metadata=FULL",
            "--binlog-row-image=FULL",
            "--server-id=1",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            f"--pid-file={base}/pid",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import pymysql

    def ready() -> bool:
        try:
            pymysql.connect(unix_socket=str(sock), user="root").close()
            return True
        except pymysql.err.OperationalError:
            return proc.poll() is None and False

    try:
        _wait(ready, "MariaDB")
        conn = pymysql.connect(unix_socket=str(sock), user="root", autocommit=True)
        conn.cursor().execute("CREATE DATABASE test CHARACTER SET utf8mb4")
        conn.close()
        yield f"mysql+pymysql://root@127.0.0.1:{port}/test?charset=utf8mb4"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL with ``wal_level=logical``."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError(
            "pg_ctl (/usr/lib/postgresql/*/bin) is needed for logical decoding tests"
        )
    bindir = Path(found[-1]).parent
    # not under pytest's temp root: that is 0700 to root, and PostgreSQL runs as postgres
    base = Path(tempfile.mkdtemp(prefix="medledger-gw-pg-"))
    os.chmod(base, 0o755)
    data, port = base / "data", free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    subprocess.run(
        [
            *as_postgres,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = (
        f"-p {port} -c wal_level=logical -c listen_addresses=127.0.0.1 -k {base} "
        "-c fsync=off -c max_replication_slots=16 -c max_wal_senders=4"
    )
    subprocess.run(
        [
            *as_postgres,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )
    try:
        subprocess.run(
            [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "test",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"
    finally:
        subprocess.run(
            [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def log_mariadb() -> Iterator[str]:
    with mariadb_server() as url:
        yield url


@pytest.fixture(scope="session")
def log_postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url
