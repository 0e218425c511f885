"""The public API contract: the OpenAPI document against its committed snapshot
(``openapi-v1.json``, refreshed with ``python -m tests.api_contract.snapshot``), what older
``Hub-Version`` clients still get, and the deprecation headers."""
