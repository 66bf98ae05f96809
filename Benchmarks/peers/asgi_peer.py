"""python-socketio AsyncServer on uvicorn (uvloop, httptools, websockets) with the old
backend's join/message events. PORT from the env."""
import os

import socketio
import uvicorn

from chat_events import timestamp, user_of

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*", logger=False, engineio_logger=False)
app = socketio.ASGIApp(sio)


@sio.event
async def connect(sid, environ):
    await sio.save_session(sid, {"environ": environ})


@sio.event
async def join(sid, data):
    session = await sio.get_session(sid)
    user = user_of(session["environ"])
    if user is None:
        return
    room = data["room"]
    await sio.enter_room(sid, room)
    await sio.emit("message", {"username": "System", "message": f"{user} has joined the room", "timestamp": timestamp()}, to=room)


@sio.event
async def message(sid, data):
    session = await sio.get_session(sid)
    user = user_of(session["environ"])
    if user is None:
        return
    await sio.emit("message", {"username": user, "message": data["message"], "timestamp": timestamp(), "user_id": user}, to=data["room"])


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), log_level="error", loop="uvloop", http="httptools", ws="websockets")
