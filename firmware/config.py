"""Board configuration: edit on the board's flash; main.py reads it once at boot."""

DEVICE_ID = None  # None: machine.unique_id() as hex (unix: $TELEMETRYHUB_DEVICE_ID or "unix-0001")
LINK = "usb"  # "usb": stdin/stdout over USB CDC; "uart": machine.UART below
UART_ID = 0
UART_BAUD = 115200
UART_TX = 0  # GPIO numbers
UART_RX = 1
PERIOD_MS = 100  # sample period, 1..60000; `set period_ms N` changes it at run time
RING_CAPACITY = 1024  # samples kept until acked (at most 65535)
WATCHDOG_MS = 0  # 0: off; >0 starts machine.WDT, which cannot be stopped and survives soft reset
SENSOR = "auto"  # "auto" (by sys.platform), "rp2", "esp32" or "sim"
