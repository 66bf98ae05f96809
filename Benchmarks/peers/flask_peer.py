"""Flask-SocketIO (eventlet) with the old backend's join/message events. PORT from the env."""
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402

from flask import Flask, request  # noqa: E402
from flask_socketio import SocketIO, emit, join_room  # noqa: E402

from chat_events import timestamp, user_of  # noqa: E402

app = Flask(__name__)
socketio = SocketIO(app, async_mode="eventlet", cors_allowed_origins="*", logger=False, engineio_logger=False)
users = {}


@socketio.on("connect")
def on_connect():
    users[request.sid] = request.environ


@socketio.on("join")
def on_join(data):
    user = user_of(request.environ)
    if user is None:
        return
    room = data["room"]
    join_room(room)
    emit("message", {"username": "System", "message": f"{user} has joined the room", "timestamp": timestamp()}, to=room)


@socketio.on("message")
def on_message(data):
    user = user_of(request.environ)
    if user is None:
        return
    emit("message", {"username": user, "message": data["message"], "timestamp": timestamp(), "user_id": user}, to=data["room"])


if __name__ == "__main__":
    socketio.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), log_output=False)
