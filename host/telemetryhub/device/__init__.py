"""The host's view of a board: link interface, board link, clock mapping, simulator."""
