"""Streaming inference: an endpoint consuming an event stream in a consumer group.

``base`` is the port (an event source and an event sink), ``redis`` and ``nats`` its
backends (chosen by the URL's scheme, see ``addresses``), ``scoring`` the micro-batch
path shared with the gateway and batch scoring, ``consumer`` the loop, ``wiring`` the
public ``stream_score``. Other contexts reach it through :mod:`modelward.serving`.
"""
