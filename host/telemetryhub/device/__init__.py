"""The host's view of a board: the link interface, the board link, clock mapping and the simulator."""
