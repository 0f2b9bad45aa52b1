"""An endless request line on the peer port, from reconnecting attackers: memory stays flat.

The short version of scripts/peer-flood.sh (tests/faults/peerflood.py): before the bound,
two such connections grew a member from 70 to 280 MiB in 10 s and slowed peer hits to 3 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.peerflood import flood, member

GROWTH_BOUND_MIB = 20.0


@pytest.mark.timing
def test_an_endless_request_line_from_four_attackers_costs_no_memory(tmp_path: Path) -> None:
    with member(tmp_path) as (tier, data):
        figures = flood(tier, data, duration_s=6.0, attackers=4)
    print(figures)
    assert figures.growth_mib < GROWTH_BOUND_MIB, figures
    assert figures.connections > 4  # each attacker was cut off and came back, again and again
    # Hits kept answering, with the blob, on both ports; bounds generous for a shared machine.
    during = figures.during
    assert during["failures"] == 0, figures
    assert during["client_n"] >= 10 and during["peer_n"] >= 10, figures
    assert during["client_p50_ms"] < 250 and during["peer_p50_ms"] < 250, figures
