"""Runs first at every boot; the firmware needs nothing here (main.py does the work)."""
