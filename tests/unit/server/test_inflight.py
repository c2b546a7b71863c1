"""InFlight: counting running handlers, refusing new ones after close, waiting for the rest."""

from __future__ import annotations

import threading
import time

from recsvc.server.inflight import InFlight


def test_close_refuses_new_handlers_and_waits_for_running_ones() -> None:
    gate = InFlight()
    assert gate.enter() and gate.enter()
    assert gate.running == 2
    gate.close()
    assert not gate.enter()  # refused: nothing counted
    assert gate.running == 2
    assert not gate.wait_idle(0.01)

    def finish() -> None:
        time.sleep(0.05)
        gate.exit()
        gate.exit()

    t = threading.Thread(target=finish)
    t.start()
    assert gate.wait_idle(10.0)
    t.join()
    assert gate.running == 0


def test_an_idle_gate_is_idle_at_once() -> None:
    gate = InFlight()
    gate.close()
    assert gate.wait_idle(0.0)
