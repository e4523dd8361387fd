"""The Zalo channel (Zalo Bot Platform): the API client, the channel adapter, and the two
ways updates arrive (long polling and a webhook route)."""
