"""Hypothesis strategies for ``structops sim tcp`` scenarios, so users can
property-test their congestion controls ("cwnd never exceeds the BDP plus the
buffer", "goodput stays above half the link" ...).

Importing this module needs hypothesis (the ``test`` extra); nothing else in the
product imports it, so hypothesis is not a dependency of the product.

::

    from hypothesis import given, settings
    from emu.sim.tcp import run_tcp
    from emu.sim.tcp_strategies import link_configs

    @settings(max_examples=20, deadline=None)
    @given(link_configs(max_duration=2.0))
    def test_reno_stays_below_bdp_plus_buffer(cfg):
        res = run_tcp(cfg, algo="reno")
        ...
"""

from __future__ import annotations

from hypothesis import strategies as st

from kernel_model.subsystems.tcp_sender import LinkConfig

__all__ = ["link_configs", "bandwidths", "rtts", "buffers", "loss_rates"]

#: Mbit/s: from a slow access link to a fast LAN (the simulator's cost grows with
#: packets per second, so the default keeps runs short)
bandwidths = st.floats(min_value=1.0, max_value=200.0, allow_nan=False, allow_infinity=False)
#: ms
rtts = st.floats(min_value=1.0, max_value=200.0, allow_nan=False, allow_infinity=False)
#: packets
buffers = st.integers(min_value=1, max_value=500)
#: per-packet random loss
loss_rates = st.one_of(st.just(0.0), st.floats(min_value=1e-5, max_value=0.05, allow_nan=False))


@st.composite
def link_configs(draw: st.DrawFn, *, max_flows: int = 3, max_duration: float = 3.0, ecn: bool = False,
                 max_packets: int = 60_000) -> LinkConfig:
    """A :class:`~kernel_model.subsystems.tcp_sender.LinkConfig`: bandwidth, RTT,
    buffer, loss, flows, seed and a duration of at most ``max_duration`` seconds,
    shortened so that the link carries at most ``max_packets`` packets (a bound on
    the run time); with ``ecn`` an ECN marking threshold below the buffer."""
    bw = draw(bandwidths)
    rtt = draw(rtts)
    buf = draw(buffers)
    pps = bw * 1e6 / (8 * 1500)
    longest = max(min(max_duration, max_packets / pps), 4 * rtt / 1e3)
    duration = draw(st.floats(min_value=min(0.2, longest), max_value=longest, allow_nan=False))
    ecn_k = draw(st.integers(min_value=1, max_value=buf)) if ecn else None
    return LinkConfig(bw_mbit=bw, rtt_ms=rtt, buffer=buf, loss=draw(loss_rates), ecn_k=ecn_k,
                      flows=draw(st.integers(min_value=1, max_value=max_flows)), duration=duration,
                      seed=draw(st.integers(min_value=0, max_value=2**32 - 1)))
