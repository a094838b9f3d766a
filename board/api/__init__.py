from flask import Flask


def init_app(app: Flask) -> None:
    from board.api import staging, views  # noqa: F401  (staging adds its routes to bp)
    from board.extensions import csrf
    from board.fhir import views as fhir_views  # noqa: F401  (adds the FHIR routes to bp)

    # Bearer tokens, not cookies, authenticate the API, so cross-site forgery does not apply.
    csrf.exempt(views.bp)
    app.register_blueprint(views.bp)
