"""Asynchronous inference: a job queue port with two backends, the gateway's job routes,
the worker that scores jobs, and the result callbacks.

Reached from other contexts only through :mod:`modelward.serving`.
"""
