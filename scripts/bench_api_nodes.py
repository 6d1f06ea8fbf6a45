"""``bench_api.py --nodes 2``: shares per second through several API nodes, against one node.

Both runs use the same stack shape (``cluster_stack``: anvil, PostgreSQL, ``medledger serve``
processes each with its own enrolled relayer) and the same load: ``clients`` concurrent SDK
clients (12 by default), client *i* talking to node *i mod N*, each sharing 4 KiB records for
``seconds``. Beside the rate, the CPU milliseconds per share of the client process, the chain
node and the API processes (summed) say where the cycles go; on this 2-core machine the three
compete for the same cores, so the ratio says how much a second API process helps when the
API is not alone on its cores, not what it gives on a machine where it is.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from bench_api_stack import cpu_seconds
from cluster_stack import Cluster, cluster_stack

from clients.sdk import MedLedgerClient
from ledger_api.chain.connection import rpc
from ledger_api.chain.contract import event_decoder

KIB = 1024
POLICY = "role:doctor and dept:cardiology"

NODE_TARGETS: dict[str, str] = {
    "shares_per_s_4kib_1node": "shares/s 4 KiB, 1 API node (PostgreSQL)",
    "shares_per_s_4kib_2nodes": "shares/s 4 KiB, 2 API nodes (PostgreSQL)",
    "scaling_2nodes_vs_1node": "2 nodes vs 1 node, same load (ratio)",
    "records_per_registration_tx_1node": "records per registration tx, 1 node",
    "records_per_registration_tx_2nodes": "records per registration tx, 2 nodes",
}


def _cpu(cluster: Cluster) -> dict[str, float]:
    api = 0.0
    for node in cluster.nodes:
        assert node.process is not None
        api += cpu_seconds(node.process.pid)
    assert cluster.chain.process is not None
    return {
        "api": api,
        "chain": cpu_seconds(cluster.chain.process.pid),
        "client": cpu_seconds(os.getpid()),
    }


def _registrations(cluster: Cluster, since: int) -> tuple[int, int]:
    """``(records, transactions)`` registered after block ``since`` (coalescing at work)."""
    decoder = event_decoder()
    params = {
        "address": cluster.deployment.address("RecordRegistry"),
        "fromBlock": hex(since + 1),
        "toBlock": "latest",
    }
    events = [e for e in map(decoder.decode, rpc(cluster.w3, "eth_getLogs", [params]) or [])]
    registered = [e for e in events if e is not None and e.name == "RecordRegistered"]
    return len(registered), len({e.tx_hash for e in registered})


def cluster_throughput(nodes: int, *, clients: int, seconds: float) -> dict[str, float]:
    """Shares/s and CPU ms per share with ``nodes`` API processes and ``clients`` clients."""
    with cluster_stack(nodes=nodes) as cluster:
        patient = MedLedgerClient(cluster.nodes[0].url, account=cluster.people["patient"])
        patient.login()
        patient.grant(grantee=cluster.people["cardiologist"].address)
        patient.close()
        sdks = []
        for i in range(clients):
            sdk = MedLedgerClient(
                cluster.nodes[i % nodes].url, account=cluster.people["cardiologist"]
            )
            sdk.login()
            sdks.append(sdk)
        payload = os.urandom(4 * KIB)

        def share(sdk: MedLedgerClient) -> Any:
            return sdk.share(
                payload, patient=cluster.patient, policy=POLICY, record_type="Observation"
            )

        for sdk in sdks:  # warm: session, connection, public key
            share(sdk)
        done = [0] * clients
        errors: list[BaseException] = []
        stop = threading.Event()
        barrier = threading.Barrier(clients + 1)

        def worker(n: int) -> None:
            barrier.wait()
            try:
                while not stop.is_set():
                    share(sdks[n])
                    done[n] += 1
            except BaseException as exc:  # reported after the run
                errors.append(exc)
                stop.set()

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        head = int(cluster.w3.eth.block_number)
        barrier.wait()
        started = time.perf_counter()
        before = _cpu(cluster)
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        after = _cpu(cluster)
        for sdk in sdks:
            sdk.close()
        if errors:
            raise RuntimeError(f"a share failed during the {nodes}-node run: {errors[0]}")
        total = max(sum(done), 1)
        suffix = "1node" if nodes == 1 else f"{nodes}nodes"
        records, transactions = _registrations(cluster, head)
        results = {
            f"shares_per_s_4kib_{suffix}": sum(done) / elapsed,
            f"records_per_registration_tx_{suffix}": records / max(transactions, 1),
        }
        for process in after:
            spent = (after[process] - before[process]) * 1000 / total
            results[f"cpu_{process}_ms_per_share_{suffix}"] = spent
        return results


def measure_nodes(nodes: int, *, clients: int, seconds: float) -> dict[str, float]:
    """The ``nodes``-node run and the 1-node run under the same load, and their ratio."""
    results = cluster_throughput(1, clients=clients, seconds=seconds)
    results.update(cluster_throughput(nodes, clients=clients, seconds=seconds))
    suffix = f"{nodes}nodes"
    results[f"scaling_{suffix}_vs_1node"] = results[f"shares_per_s_4kib_{suffix}"] / max(
        results["shares_per_s_4kib_1node"], 1e-9
    )
    return results


def print_nodes_table(results: dict[str, float], *, clients: int, seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    table = Table(
        title=f"API nodes on one PostgreSQL ({clients} clients for {seconds:.0f} s; "
        f"{os.cpu_count()} cores shared by client, API nodes and chain; load average {load})"
    )
    for column in ("measure", "value", "CPU ms/op client", "CPU ms/op chain", "CPU ms/op API"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for key, label in NODE_TARGETS.items():
        if key not in results:
            continue
        suffix = key.rsplit("_", 1)[-1] if key.startswith("shares") else ""
        cpu = [results.get(f"cpu_{p}_ms_per_share_{suffix}") for p in ("client", "chain", "api")]
        table.add_row(
            label,
            f"{results[key]:,.2f}",
            *("—" if c is None else f"{c:.1f}" for c in cpu),
        )
    Console(width=150).print(table)
