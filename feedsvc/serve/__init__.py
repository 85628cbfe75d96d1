"""Serving the feeds to feed readers over HTTP (``feedsvc serve``, and ``feedsvc run`` with
``[serve] bind``).

``app`` answers requests from memory (``files``, ``negotiation``, ``ratelimit``); ``server`` is
the one module that touches uvicorn; ``bind`` parses the address and is all the configuration
needs, so importing this package or ``bind`` loads no web server.
"""
