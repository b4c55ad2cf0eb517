"""Simulations that drive a subsystem's struct_ops members on their own (``structops sim``)."""
