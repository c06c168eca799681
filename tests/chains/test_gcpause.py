"""The collector pause used by adapters nests and restores the collector's previous state."""

import gc

from chains.gcpause import paused_gc


def test_nested_pauses_restore_an_enabled_collector():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer read is still running
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled():
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_restored_after_an_exception():
    try:
        with paused_gc():
            raise RuntimeError("read failed")
    except RuntimeError:
        pass
    assert gc.isenabled()
