"""The decision service: closed candles in, evaluations out to the workers, order intents out.

plan.py is the pure part (which assignments are due, what is stale, what a reply decides);
service.py runs it on the bus over storage/decisions.py.
"""
