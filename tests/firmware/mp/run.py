# Runs one test function of a test module under MicroPython: run.py <module> <function>.
import sys

module = __import__(sys.argv[1])
getattr(module, sys.argv[2])()
print("PASS", sys.argv[1], sys.argv[2])
