"""Entry point: builds the app from config.py and the HAL, then runs it until Ctrl-C."""

import config
import hal
from app import App
from faults import Faults
from ring import Ring
from rng import XorShift16


def build() -> App:
    boot_id = hal.boot_id()
    rng = XorShift16(boot_id)
    device_id = config.DEVICE_ID or hal.unique_id()
    return App(
        link=hal.make_link(config.LINK, config.UART_ID, config.UART_BAUD, config.UART_TX, config.UART_RX),
        clock=hal.Clock(),
        sensor=hal.make_sensor(config.SENSOR, rng),
        ring=Ring(config.RING_CAPACITY),
        faults=Faults(rng),
        watchdog=hal.watchdog(config.WATCHDOG_MS),
        device_id=device_id.encode(),
        boot_id=boot_id,
        reset_cause=hal.reset_cause(),
        period_ms=config.PERIOD_MS,
    )


def main() -> None:
    app = build()
    try:
        app.run()
    except KeyboardInterrupt:
        pass  # Ctrl-C: leave the loop, the board drops to the REPL


main()
