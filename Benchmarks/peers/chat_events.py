"""The old backend's join/message events, shared by both Python peers: the token is read
from the access_token_cookie sent with the handshake and decoded (HS256, PyJWT) per event,
as Flask-JWT-Extended's decode_token did in the old backend."""
import os
import time
from http.cookies import SimpleCookie

import jwt

SECRET = os.environ.get("JWT_SECRET_KEY", "jwt-secret-key-change-this")


def user_of(environ):
    cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    morsel = cookie.get("access_token_cookie")
    if morsel is None:
        return None
    try:
        return jwt.decode(morsel.value, SECRET, algorithms=["HS256"])["sub"]
    except jwt.PyJWTError:
        return None


def timestamp():
    return time.strftime("%H:%M")
