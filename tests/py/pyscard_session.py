#!/usr/bin/python3
"""Send APDUs through pyscard to one reader, following 61xx with GET RESPONSE.

usage: pyscard_session.py READER APDU_HEX...

Prints one JSON object per APDU: the command, every physical exchange, the assembled data and the
final status word. Exits 2 when the reader or card cannot be reached.
"""
import json
import sys

from smartcard.CardConnection import CardConnection
from smartcard.System import readers


def main():
    name, apdus = sys.argv[1], sys.argv[2:]
    matches = [r for r in readers() if str(r) == name]
    if not matches:
        print(f"no reader {name!r}: {[str(r) for r in readers()]}", file=sys.stderr)
        return 2
    conn = matches[0].createConnection()
    conn.connect(CardConnection.T1_protocol)
    for apdu_hex in apdus:
        apdu = list(bytes.fromhex(apdu_hex))
        exchanges = []
        data, sw1, sw2 = conn.transmit(apdu)
        exchanges.append([apdu_hex.upper(), bytes(data + [sw1, sw2]).hex().upper()])
        assembled = list(data)
        rounds = 0
        # ISO 7816-4 §7.6.1: 61xx says xx more bytes wait for GET RESPONSE.
        while sw1 == 0x61 and rounds < 256:
            get_response = [apdu[0] & 0x03, 0xC0, 0x00, 0x00, sw2]
            data, sw1, sw2 = conn.transmit(get_response)
            exchanges.append([bytes(get_response).hex().upper(), bytes(data + [sw1, sw2]).hex().upper()])
            assembled += data
            rounds += 1
        print(json.dumps({
            "cmd": apdu_hex.upper(),
            "exchanges": exchanges,
            "data": bytes(assembled).hex().upper(),
            "sw": f"{sw1:02X}{sw2:02X}",
        }))
    conn.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
