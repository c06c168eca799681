"""Local stand-ins for chains that have no node porscan can run here, for the demo, tests and benchmarks.

* ``fake_tron_solana``: FAKE TRON HTTP API and FAKE Solana JSON-RPC servers (no java-tron node and
  no Solana validator can run on the project machine). Every endpoint label that points at them
  starts with ``FAKE``; they are never a default endpoint.
* ``loopthread``: an asyncio loop in a daemon thread, to serve such an aiohttp app beside synchronous code.

Real local nodes (anvil, Bitcoin Knots, litecoind) live in ``scanner.devnet.localnodes`` and ``scanner.devnet.localbtc``.
"""
