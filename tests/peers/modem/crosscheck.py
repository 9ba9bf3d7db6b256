#!/usr/bin/env python3
"""Cross-check modem_sim.py with an independent client, python-gsmmodem-new
(pip install python-gsmmodem-new pyserial).

    python3 crosscheck.py HOST_PTY INBOX_DIR

Sends one SMS in text mode and two in PDU mode (GSM 7-bit with accents,
UCS-2), then has an SMS whose body is exactly "OK" delivered through the
inbox and read back in PDU mode. Prints one JSON object: {"received": [[from,
text], ...]}; the caller checks the simulator's --sent file.
"""
import json, os, sys, threading

from gsmmodem.modem import GsmModem

RECEIVE_TIMEOUT_S = 20  # the simulator polls its inbox every 50 ms


def main():
    host, inbox = sys.argv[1], sys.argv[2]
    received, got = [], threading.Event()

    def on_sms(sms):
        received.append([sms.number, sms.text])
        got.set()

    modem = GsmModem(host, 115200, smsReceivedCallbackFunc=on_sms)
    modem.smsTextMode = False
    modem.connect()
    try:
        modem.smsTextMode = True
        modem.sendSms("+33612345678", "Bonjour en mode texte")
        modem.smsTextMode = False
        modem.sendSms("+33612345678", "Alerte à l'épicerie, j'arrive")
        modem.sendSms("+33612345678", "Forêt, reçu ça")
        tmp = os.path.join(inbox, "ok.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"from": "+33699887766", "text": "OK"}, f)
        os.rename(tmp, os.path.join(inbox, "ok.json"))
        if not got.wait(RECEIVE_TIMEOUT_S):
            print("no SMS received within %d s" % RECEIVE_TIMEOUT_S, file=sys.stderr)
    finally:
        modem.close()
    print(json.dumps({"received": received}, ensure_ascii=False))


if __name__ == "__main__":
    main()
