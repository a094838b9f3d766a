"""Concordance: how often the board's reviewers concur with or differ from the original
opinion, how well reviewers agree with each other, and how fast the board answers.

`stats.py` and `published.py` are pure (standard library only); `services.py` runs the
aggregating queries; `views.py` serves the analytics pages.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    from board.concordance.views import bp

    app.register_blueprint(bp)
