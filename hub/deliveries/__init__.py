"""Client webhooks: endpoints that clients register, and the signed deliveries Hub sends them.

``controllers`` is the API and ``service`` its logic; ``jobs`` holds the fan-out, delivery and
sweep jobs on the notify queue, over ``_fan_out`` (creating a batch of events' deliveries),
``_ledger`` (a delivery's state: claiming and recording attempts) and ``_send`` (one HTTP
attempt); ``signing`` is the Standard Webhooks signature and ``urls`` the check that keeps
webhooks away from private addresses.
"""
