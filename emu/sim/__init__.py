"""Simulations that make the emulated kernel call struct_ops members on its own:
``structops sim tcp`` (:mod:`emu.sim.tcp`) drives ``tcp_congestion_ops``, ``structops sim sched``
(:mod:`emu.sim.sched`) drives ``sched_ext_ops``; :mod:`emu.sim.plot` has the shared plotting helpers."""
