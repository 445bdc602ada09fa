#!/usr/bin/env python3
"""Peer for the runtime's dispatch benchmark: vsmartcard's vicc card OS (Debian package
python3-virtualsmartcard), called in-process with Iso7816OS.execute(apdu), one core.

vicc has no echo command and no persistent memory; the closest commands are measured:
- GET CHALLENGE of 8 bytes: the shortest command that returns data (stands beside "echo");
- SELECT of the MF by file identifier (stands beside SELECT by AID);
- UPDATE BINARY of 4 bytes in an EF, in memory (stands beside the committed counter update;
  vicc keeps no state on disk and has no transactions);
- VERIFY of its default PIN 1234 (stands beside cardgate's PIN verify).

Prints `result <name> <ops/s>` lines like the Rust benchmark. BENCH_QUICK=1 for a short run.
"""
import hashlib
import logging
import os
import sys
import time
import types

# Debian's package tries PyCrypto, then falls back to a Python 2 module `sha`; give it that module
# (no command measured here uses it) instead of installing PyCrypto.
sha = types.ModuleType("sha")
sha.new = hashlib.sha1
sys.modules["sha"] = sha
sys.path.insert(0, "/usr/lib/python3/site-packages/virtualsmartcard")
logging.disable(logging.CRITICAL)

from virtualsmartcard.CardGenerator import CardGenerator  # noqa: E402
from virtualsmartcard.VirtualSmartcard import Iso7816OS  # noqa: E402
from virtualsmartcard.SmartcardFilesystem import TransparentStructureEF  # noqa: E402

QUICK = bool(os.environ.get("BENCH_QUICK"))


def measure(fn):
    sample = 0.1 if QUICK else 0.6
    batch = 1
    while True:
        t = time.perf_counter()
        for _ in range(batch):
            fn()
        if time.perf_counter() - t >= sample / 4:
            per = (time.perf_counter() - t) / batch
            batch = max(1, int(sample / per))
            break
        batch *= 2
    runs = []
    for _ in range(3 if QUICK else 7):
        t = time.perf_counter()
        for _ in range(batch):
            fn()
        runs.append((time.perf_counter() - t) / batch)
    runs.sort()
    return 1.0 / runs[len(runs) // 2]


def main():
    mf, sam = CardGenerator("iso7816").getCard()
    mf.append(TransparentStructureEF(parent=mf, fid=0x0101, data=b"\x00" * 16))
    card = Iso7816OS(mf, sam)
    # UPDATE BINARY works on the current EF: select it first, and measure SELECT (which makes the
    # MF current) last. It carries an Le: without one, vicc 0.8 raises TypeError in formatResult
    # (`le > len(data)` with le None) and never answers.
    assert card.execute(bytes.fromhex("00A4020C020101"))[-2:] == b"\x90\x00"
    commands = {
        "echo": bytes.fromhex("0084000008"),
        "counter_update": bytes.fromhex("00D6000004DEADBEEF00"),
        "pin_verify": bytes.fromhex("002000000431323334"),
        "select": bytes.fromhex("00A4000C023F00"),
    }
    # The PIN is checked: a wrong one is refused (one try used, the right one restores them).
    assert card.execute(bytes.fromhex("002000000439393939"))[-2:] != b"\x90\x00", "wrong PIN refused"
    for name, apdu in commands.items():
        r = card.execute(apdu)
        # UPDATE BINARY with an Le answers 6282 (fewer than Le bytes), having written the data.
        assert r[-2:] in (b"\x90\x00", b"\x62\x82"), (name, r.hex())
    assert card.execute(bytes.fromhex("00A4020C020101"))[-2:] == b"\x90\x00"
    assert card.execute(bytes.fromhex("00B0000004"))[:4] == bytes.fromhex("DEADBEEF"), "the update wrote"
    print("| operation (vicc) | ops/s |")
    print("|---|---:|")
    results = {}
    for name, apdu in commands.items():
        results[name] = measure(lambda: card.execute(apdu))
        print(f"| {name} ({apdu.hex().upper()}) | {results[name]:.0f} |")
    for name, ops in results.items():
        print(f"result {name} {ops:.0f}")


if __name__ == "__main__":
    main()
