"""The keys under which ``create_app`` puts the engine and settings in the Flask config,
and the one way pages and the data layer get them back."""

from __future__ import annotations

import flask
from sqlalchemy import Engine

from settings import Settings

ENGINE_KEY = "INSIDERS_ENGINE"
SETTINGS_KEY = "INSIDERS_SETTINGS"
WARM_KEY = "INSIDERS_WARM_CACHE"


def app_engine(engine: Engine | None = None) -> Engine:
    """``engine`` if given (tests, threads without an app context), else the app's."""
    return engine if engine is not None else flask.current_app.config[ENGINE_KEY]


def app_settings() -> Settings:
    return flask.current_app.config[SETTINGS_KEY]


def warm_enabled() -> bool:
    return bool(flask.current_app.config.get(WARM_KEY))
