"""DeliveryLedger: dedup by (device, boot_id, seq), duplicate and order counts."""

from __future__ import annotations

import threading

from telemetryhub.uplink.ledger import DeliveryLedger


def mqtt_payload(device: str, seqs: list[int], boot_id: int = 1) -> dict[str, object]:
    return {
        "gateway": "g",
        "device": device,
        "samples": [{"boot_id": boot_id, "seq": s} for s in seqs],
    }


def test_counts_unique_and_duplicates() -> None:
    ledger = DeliveryLedger()
    assert ledger.add_payload(mqtt_payload("a", [0, 1, 2])) == 3
    assert ledger.add_payload(mqtt_payload("a", [1, 2, 3])) == 1
    assert ledger.snapshot() == {"unique": 4, "duplicates": 2, "out_of_order": 0, "payloads": 2}
    assert ledger.keys() == [("a", 1, 0), ("a", 1, 1), ("a", 1, 2), ("a", 1, 3)]


def test_order_is_checked_per_device_and_boot() -> None:
    ledger = DeliveryLedger()
    ledger.add_payload(mqtt_payload("a", [5]))
    ledger.add_payload(mqtt_payload("b", [0]))  # another device: no order relation
    ledger.add_payload(mqtt_payload("a", [0], boot_id=2))  # a reboot restarts seq
    assert ledger.out_of_order == 0
    ledger.add_payload(mqtt_payload("b", [7, 3]))
    assert ledger.out_of_order == 1


def test_http_payloads_carry_the_device_per_sample() -> None:
    ledger = DeliveryLedger()
    payload = {
        "samples": [
            {"device": "a", "boot_id": 1, "seq": 0},
            {"device": "b", "boot_id": 1, "seq": 0},
        ]
    }
    assert ledger.add_payload(payload) == 2


def test_wait_for_wakes_on_arrival() -> None:
    ledger = DeliveryLedger()
    assert not ledger.wait_for(1, timeout_s=0.01)
    feeder = threading.Thread(target=ledger.add_payload, args=(mqtt_payload("a", [0, 1]),))
    feeder.start()
    assert ledger.wait_for(2, timeout_s=5)
    feeder.join()
