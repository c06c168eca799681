"""Helpers shared by the test modules: local nodes and worlds, fault proxies, fake servers, paths.

Imported as ``support.<module>`` (``tests`` is on pytest's ``pythonpath``); the fixtures built on
them are registered in ``tests/conftest.py``, so test modules never import from conftest.
"""
