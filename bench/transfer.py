"""Transfer benchmark: our SFTP upload next to the OpenSSH `scp` client, alternating, to a local sshd.

    .venv/bin/python bench/transfer.py [--megabytes 200] [--rounds 3]

Both upload the same file to the same sshd on 127.0.0.1 with the same key; ours includes what a real delivery
does (temporary name, size check, checksum when the server allows it, rename). Prints MB/s of each round and
the ratio of the medians. Target: ours >= 0.9x scp.

Also prints the CPU seconds each side costs, client and server together (sshd, and whatever it ran for the
checksum): on a shared machine, wall time follows the neighbours' load, CPU time much less so.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from recorder.transfer import upload  # noqa: E402

from sshd import Sshd, authorize, keygen, start_sshd  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        base = Path(tmp)
        key = keygen(base / "ssh_key")
        authorized = base / "authorized_keys"
        authorize(authorized, key)
        server = start_sshd(base / "sshd", authorized)
        try:
            known_hosts = base / "known_hosts"
            known_hosts.write_text(server.known_hosts_line())
            local = base / "recording.mp3"
            with open(local, "wb") as file:
                for _ in range(args.megabytes):
                    file.write(os.urandom(2**20))
            ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
            for round_number in range(args.rounds):
                target = base / f"remote-{round_number}"
                target.mkdir()
                with measured(server, ours, ours_cpu, args.megabytes):
                    upload(local, f"root@127.0.0.1:{server.port}:{target}/ours/", key, known_hosts)
                with measured(server, theirs, theirs_cpu, args.megabytes):
                    subprocess.run(["scp", "-q", "-P", str(server.port), "-i", str(key), "-o",
                                    f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes", "-o",
                                    "BatchMode=yes", str(local), f"root@127.0.0.1:{target}/scp.mp3"], check=True)
                print(f"round {round_number + 1}: ours {ours[-1]:.0f} MB/s ({ours_cpu[-1]:.2f} s CPU), "
                      f"scp {theirs[-1]:.0f} MB/s ({theirs_cpu[-1]:.2f} s CPU)")
            print(f"{args.megabytes} MB upload, median of {args.rounds}: ours {statistics.median(ours):.0f} MB/s, "
                  f"scp {statistics.median(theirs):.0f} MB/s, ratio {statistics.median(ours) / statistics.median(theirs):.2f} "
                  f"(target >= 0.9); CPU ours {statistics.median(ours_cpu):.2f} s, "
                  f"scp {statistics.median(theirs_cpu):.2f} s")
        finally:
            server.stop()


@contextmanager
def measured(server: Sshd, speeds: list[float], cpu: list[float], megabytes: int) -> Iterator[None]:
    """Append the MB/s of the block, and the CPU seconds it cost this process, its children and the server."""
    cpu_before, started = _cpu_seconds(server), time.perf_counter()
    yield
    speeds.append(megabytes / (time.perf_counter() - started))
    deadline = time.monotonic() + 10
    while server.sessions() and time.monotonic() < deadline:  # the server's share is counted once it has ended
        time.sleep(0.01)
    cpu.append(_cpu_seconds(server) - cpu_before)


def _cpu_seconds(server: Sshd) -> float:
    """CPU used so far by this process, its finished children (scp, ssh) and the server's finished sessions."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime + cstime of the listener
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + reaped


if __name__ == "__main__":
    main()
