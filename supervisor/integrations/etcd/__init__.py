"""
etcd for a fleet of trees: service registration while ready, and fleet
singletons (``singleton=True`` children) elected through etcd.

``run(spec, http="0.0.0.0:8080", etcd=EtcdOptions(endpoints=..., service=...))``;
docs/fleet.md describes the keys, the guarantees and their limits. The public
names are re-exported by `supervisor` (``supervisor.EtcdOptions``); this
``__init__`` imports nothing, so that the modules may import each other
without a cycle through it.

* ``_errors``   the exceptions               (EtcdOptions: ``supervisor/_fleet.py``)
* ``_mapping``  the gateway's JSON (pure)   ``_decide``  key layout, membership, timing (pure)
* ``_client``   EtcdClient (httpx on trio)  ``_member``  the service: lease, key, elections
"""
