"""Response headers every answer carries, and the proxy hop count.

- Content-Security-Policy without inline script or style: templates load board.css and
  board/static/*.js only (tests/integration/test_security_headers.py scans templates).
- HSTS only when SECURE_TRANSPORT (the site is served over HTTPS; off for `make run`).
- Referrer-Policy same-origin, not no-referrer: Flask-WTF checks the Referer of HTTPS
  form posts against the host, so same-origin requests must keep it.
- Cache-Control: no-store on everything but /static: pages, API answers and downloads may
  hold patient data, and a shared computer's browser cache must not keep them.
- PROXY_X_FOR: how many proxies in front of the app append to X-Forwarded-For (0, the
  default, trusts none: remote_addr is the TCP peer). Set it to exactly the number of
  proxies, or a client could choose its own address and escape the login throttle.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)


def init_app(app: Flask) -> None:
    hops = int(app.config["PROXY_X_FOR"])
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=int(app.config["PROXY_X_PROTO"])
        )

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = CSP
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if app.config["SECURE_TRANSPORT"]:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.endpoint != "static":
            headers["Cache-Control"] = "no-store"
            headers.pop("Expires", None)
        return response
