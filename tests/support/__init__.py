"""What tests build on; test modules import from here, ``tests/conftest.py`` holds the fixtures.

* ``servers``: ``LiveServer`` (Hub on uvicorn in a thread), ``RedisServer``, ``WebhookReceiver``,
  ``Gate``, ``free_port``, ``wait_for``; ``hub_processes``: ``hub serve``/``hub dev`` processes.
* ``tenants``: ``Tenant``, an organization of its own with an owner key and a client.
* ``worlds``: a Hub around one test (``hub_world``), with the Google or Microsoft stand-in
  (``google_world``, ``microsoft_world``; the stand-ins are ``google_standin``, ``graph_standin``).
* ``workers``: the in-process burst worker (``run_jobs``, ``drain_jobs``), ``WorkerProcess`` and
  ``hub_env`` (a test's settings as a ``hub`` process's environment); ``jobs``: job functions a
  worker imports by path.
* ``parallel``: what the processes of a parallel run (``pytest -n``) must not share.
"""
