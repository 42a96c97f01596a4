"""Transfer benchmark: our SFTP upload next to the OpenSSH `scp` client, alternating, to a local sshd.

    .venv/bin/python bench/transfer.py [--megabytes 200] [--rounds 3]

Both upload the same file to the same sshd on 127.0.0.1 with the same key; ours includes what a real delivery
does (temporary name, size check, checksum when the server allows it, rename). Prints MB/s of each round and
the ratio of the medians. Target: ours >= 0.9x scp.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from recorder.transfer import upload  # noqa: E402

from sshd import authorize, keygen, start_sshd  # noqa: E402


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
            ours, theirs = [], []
            for round_number in range(args.rounds):
                target = base / f"remote-{round_number}"
                target.mkdir()
                started = time.perf_counter()
                upload(local, f"root@127.0.0.1:{server.port}:{target}/ours/", key, known_hosts)
                ours.append(args.megabytes / (time.perf_counter() - started))
                started = time.perf_counter()
                subprocess.run(["scp", "-q", "-P", str(server.port), "-i", str(key), "-o",
                                f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes", "-o",
                                "BatchMode=yes", str(local), f"root@127.0.0.1:{target}/scp.mp3"], check=True)
                theirs.append(args.megabytes / (time.perf_counter() - started))
                print(f"round {round_number + 1}: ours {ours[-1]:.0f} MB/s, scp {theirs[-1]:.0f} MB/s")
            print(f"{args.megabytes} MB upload, median of {args.rounds}: ours {statistics.median(ours):.0f} MB/s, "
                  f"scp {statistics.median(theirs):.0f} MB/s, ratio {statistics.median(ours) / statistics.median(theirs):.2f} "
                  "(target >= 0.9)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
