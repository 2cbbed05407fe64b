"""The threaded front end (``scaivault server --front-end threads``): a thread per connection, no event loop
between a request and its operation.

uvicorn and starlette cost about 300 us of CPU per authenticated request on the machines we measure
(docs/performance.md, "The floor of one request"), most of it in the event loop, the ASGI layers and the
hop into the thread pool that every operation takes anyway, since operations read the store. Here each
connection's thread parses with httptools and calls the operation's handler itself, with blocking sockets
and timeouts in place of timers. What it serves and answers is the ASGI app's:

- the API's operations (the leading ``routing.OperationRoute``\\ s of ``create_app``'s router, core and
  plugins' alike) by ``OperationRoute.serve_in_thread``, the same steps as their starlette endpoint;
- everything else (Vault-compatible paths, /docs, plugins' plain starlette routes) by the starlette app
  itself, through a small ASGI bridge onto one shared event loop (``bridge``).

The protections are the same settings with the same answers: ``connection`` holds the header deadline and
cap (431), the body deadline (408), the body limit (413), the token before the body, keep-alive, the request
id and the access line; ``listener`` the connection cap (503), TLS and a clean stop on SIGTERM/SIGINT.
"""

from .listener import FrontEnd, serve

__all__ = ["FrontEnd", "serve"]
