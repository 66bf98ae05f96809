#!/usr/bin/env python3
"""Reads, as the old Flask backend would (pymongo 4.5, Werkzeug 2.3), a user and a room
that the Swift store wrote, and checks their shapes, so the old backend can be put back
on a database the Swift server used. Prints a JSON report; exits 1 on any mismatch.

    read_as_old_backend.py --uri URI --db DB --username NAME --password PW --room-key KEY
"""
import argparse
import datetime
import json
import sys

import pymongo
from bson import ObjectId
from werkzeug.security import check_password_hash


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--room-key", required=True)
    args = parser.parse_args()

    db = pymongo.MongoClient(args.uri, serverSelectionTimeoutMS=10000)[args.db]
    problems = []
    # login: users.find_one({'username': username}) then check_password_hash(user['password'], pw)
    user = db.users.find_one({"username": args.username})
    if user is None:
        problems.append("no user")
        user = {}
    else:
        if not isinstance(user.get("_id"), ObjectId):
            problems.append("user _id is not an ObjectId")
        for field in ("username", "email", "password"):
            if not isinstance(user.get(field), str):
                problems.append(f"user {field} is not a string")
        if not isinstance(user.get("created_at"), datetime.datetime):
            problems.append("user created_at is not a date")
        if not check_password_hash(user.get("password", ""), args.password):
            problems.append("Werkzeug does not accept the password")
        if check_password_hash(user.get("password", ""), args.password + "x"):
            problems.append("Werkzeug accepts a wrong password")
        # get_jwt_identity() is str(user['_id']); the dashboard does find_one({'_id': ObjectId(id)})
        if db.users.find_one({"_id": ObjectId(str(user.get("_id")))}) is None:
            problems.append("user not found by ObjectId(str(_id))")
    room = db.rooms.find_one({"key": args.room_key})
    if room is None:
        problems.append("no room")
        room = {}
    else:
        if not isinstance(room.get("_id"), ObjectId):
            problems.append("room _id is not an ObjectId")
        if room.get("created_by") != str(user.get("_id")):
            problems.append("room created_by is not the owner's id string")
        if not isinstance(room.get("created_at"), datetime.datetime):
            problems.append("room created_at is not a date")
        members = room.get("members")
        if not (isinstance(members, list) and all(isinstance(m, str) for m in members)):
            problems.append("room members is not a list of strings")
        # my_rooms: rooms.find({'created_by': user_id})
        if not any(r["key"] == args.room_key for r in db.rooms.find({"created_by": str(user.get("_id"))})):
            problems.append("room not found by created_by")
    report = {
        "problems": problems,
        "user_keys": sorted(user.keys()),
        "room_keys": sorted(room.keys()),
        "members": room.get("members"),
    }
    print(json.dumps(report, default=str))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
