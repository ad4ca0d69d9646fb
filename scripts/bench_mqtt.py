#!/usr/bin/env python3
"""MQTT output across a broker restart: N messages at QoS 1, how many arrive.

Starts a private Mosquitto broker on 127.0.0.1 (a free port, temporary config, persistence
on), a subscriber with a persistent session (QoS 1), and publishes N JSON messages through
edgevision's :class:`~edgevision.stream.mqtt.MqttPublisher` at a fixed rate; halfway the
broker is killed (``--signal``), stays down ``--down`` seconds and is started again on the same
port. Prints one JSON line: messages published, received (unique), lost, duplicates,
dropped by the bounded buffer, reconnects and the time taken. Exit 1 if any message is lost.

    python scripts/bench_mqtt.py --messages 10000 --rate 2000 --signal KILL --down 1
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time

from edgevision.stream.broker import LocalBroker, Subscriber
from edgevision.stream.mqtt import MqttConfig, MqttPublisher


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=2000.0, help="messages per second")
    ap.add_argument("--signal", choices=("TERM", "KILL"), default="KILL")
    ap.add_argument("--down", type=float, default=1.0, help="seconds the broker stays down")
    ap.add_argument("--buffer", type=int, default=10_000, help="the publisher's buffer")
    args = ap.parse_args()
    payload = {"stream": 0, "source": "bench", "pts": 0.0, "result": {"boxes": [[1.0] * 4] * 5}}
    with LocalBroker() as broker:
        sub = Subscriber(broker.port, "bench")
        pub = MqttPublisher(MqttConfig(f"mqtt://127.0.0.1:{broker.port}/bench", buffer=args.buffer))
        pub.connect()
        t0 = time.monotonic()
        half = args.messages // 2
        restart = None
        for i in range(args.messages):
            target = t0 + i / args.rate
            if (d := target - time.monotonic()) > 0:
                time.sleep(d)
            if i == half:  # restart in the background: publishing goes on meanwhile
                restart = threading.Thread(
                    target=broker.restart,
                    args=(getattr(signal, f"SIG{args.signal}"), args.down),
                )
                restart.start()
            pub.publish(0, json.dumps(payload | {"frame": i}).encode())
        if restart is not None:
            restart.join()
        pub.cfg.flush_timeout = 60.0
        error = None
        try:
            pub.close()
        except Exception as e:  # reported in the JSON line
            error = str(e)
        wall = time.monotonic() - t0
        got = sub.wait(pub.published, 30)
        sub.close()
        s = pub.summary()
    seen = {json.loads(payload)["frame"] for _, payload in got}
    lost = args.messages - len(seen)
    print(
        json.dumps(
            {
                "messages": args.messages,
                "rate": args.rate,
                "signal": args.signal,
                "down_s": args.down,
                "published": s["published"],
                "acknowledged": s["acknowledged"],
                "dropped": s["dropped"],
                "reconnects": s["reconnects"],
                "received_unique": len(seen),
                "duplicates": len(got) - len(seen),
                "lost": lost,
                "wall_s": round(wall, 2),
                "error": error,
            }
        )
    )
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
