"""Client webhooks: endpoints that clients register, and the signed deliveries Hub sends them.

``controllers`` is the API, ``service`` its logic, ``jobs`` the fan-out and delivery jobs on the
notify queue, ``signing`` the Standard Webhooks signature, ``urls`` the check that keeps
webhooks away from private addresses.
"""
