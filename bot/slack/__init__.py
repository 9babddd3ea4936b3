"""The Slack door: ack fast, parse, call the core (:mod:`bot.assistant`) on worker threads, render.

Layout (one concept a module):

- ``server``: ``closer serve`` — Starlette on uvicorn (``/slack/events``, ``/healthz``, ``/metrics``),
  or Socket Mode; lifespan, drain on SIGTERM. ``intake``: size, signature and shape of a request
  before Bolt sees it (413/401/400).
- ``app``: the Bolt ``AsyncApp`` and its listeners (wiring only: ack, then hand off).
- ``service``: what every handler shares, and the error boundary around each job.
- ``commands`` / ``conversations`` / ``mentions`` / ``actions``: the four surfaces.
- ``inbound`` (what a message says, who sent it), ``parse`` (command grammar), ``sanitize`` (the one
  sanitiser for all that is posted), ``render`` + ``mrkdwn`` (Block Kit), ``buttons`` (button values),
  ``stream`` (chat streaming), ``targets`` (where an answer goes), ``identity`` (Slack user → CRM
  person), ``dedup`` (exactly once), ``memory`` (button context, process memory only),
  ``workers`` (the thread pool), ``clients`` (Web API clients with retries), ``instrument``.
"""
