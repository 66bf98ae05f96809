#!/usr/bin/env python3
"""Writes into a MongoDB database, with pymongo, exactly the documents the old Flask
backend (pymongo 4.5, Werkzeug 2.3) writes, so the Swift store can be checked against
them. Prints what it wrote as JSON on stdout (ids, plain passwords, keys).

    seed_old_backend.py --uri mongodb://127.0.0.1:27017/ --db chatify_db [--duplicate-username]

What the old backend does, and so what this does:
- register: users.insert_one({'username', 'email', 'password': generate_password_hash(pw),
  'created_at': datetime.utcnow()}); Werkzeug 2.3 hashes with pbkdf2:sha256:600000,
  Werkzeug 3 with scrypt:32768:8:1 (both are written here).
- create_room: rooms.insert_one({'name', 'key': secrets.token_urlsafe(8),
  'created_by': str(user['_id']), 'created_at': datetime.utcnow(), 'members': [user_id]}).
- join_room: rooms.update_one({'key': key}, {'$addToSet': {'members': user_id}}).
- No unique index: uniqueness was checked by a read first, so two racing registrations
  could both be stored (--duplicate-username stores such a pair).
A few hand-made variants (a user without created_at, a room without members, extra
fields) stand for documents left by older versions or edited by hand.
"""
import argparse
import datetime
import hashlib
import json
import secrets
import string

import pymongo
from werkzeug.security import check_password_hash, generate_password_hash


def scrypt_hash(password: str) -> str:
    """Werkzeug 3's default format, written with hashlib, and checked against
    Werkzeug's own scrypt implementation (Werkzeug 2.3 reads it too)."""
    salt = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))  # gen_salt(16)
    n, r, p = 32768, 8, 1
    digest = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p, dklen=64)
    hashed = f"scrypt:{n}:{r}:{p}${salt}${digest.hex()}"
    assert check_password_hash(hashed, password), "hashlib and Werkzeug disagree on scrypt"
    return hashed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True)
    parser.add_argument("--db", default="chatify_db")
    parser.add_argument("--users", default="users")
    parser.add_argument("--rooms", default="rooms")
    parser.add_argument("--duplicate-username", action="store_true")
    args = parser.parse_args()

    client = pymongo.MongoClient(args.uri, serverSelectionTimeoutMS=10000)
    db = client[args.db]
    users, rooms = db[args.users], db[args.rooms]
    now = datetime.datetime.utcnow()  # what the old backend calls (naive UTC)
    out = {"users": [], "rooms": []}

    def register(username, email, password, password_hash, **extra):
        doc = {"username": username, "email": email, "password": password_hash, "created_at": now}
        doc.update(extra)
        result = users.insert_one(doc)
        entry = {"id": str(result.inserted_id), "username": username, "email": email, "password": password,
                 "hash": password_hash}
        out["users"].append(entry)
        return entry

    alice = register("alice", "alice@example.com", "alice-pass-1", generate_password_hash("alice-pass-1"))
    assert alice["hash"].startswith("pbkdf2:sha256:600000$"), alice["hash"]
    bob = register("bob", "bob@example.com", "b0b's p@ss ✓", scrypt_hash("b0b's p@ss ✓"))
    # Written by an older version: no created_at, and a field nobody reads.
    legacy = users.insert_one({"username": "legacy", "email": "legacy@example.com",
                               "password": generate_password_hash("legacy-pass"), "nickname": "old"})
    out["users"].append({"id": str(legacy.inserted_id), "username": "legacy", "email": "legacy@example.com",
                         "password": "legacy-pass", "created_at_missing": True})
    if args.duplicate_username:
        register("alice", "alice2@example.com", "other", generate_password_hash("other"))

    def create_room(name, owner):
        key = secrets.token_urlsafe(8)
        doc = {"name": name, "key": key, "created_by": owner["id"], "created_at": now, "members": [owner["id"]]}
        result = rooms.insert_one(doc)
        entry = {"id": str(result.inserted_id), "name": name, "key": key, "created_by": owner["id"],
                 "members": [owner["id"]]}
        out["rooms"].append(entry)
        return entry

    general = create_room("General <b>chat</b> ✓", alice)
    rooms.update_one({"key": general["key"]}, {"$addToSet": {"members": bob["id"]}})
    rooms.update_one({"key": general["key"]}, {"$addToSet": {"members": bob["id"]}})  # joins twice: once
    general["members"].append(bob["id"])
    second = create_room("Second", alice)
    # Hand-edited: members removed, an extra field.
    rooms.update_one({"key": second["key"]}, {"$unset": {"members": ""}, "$set": {"topic": "x"}})
    second["members"] = []
    create_room("Bob's", bob)

    # BSON keeps whole milliseconds (pymongo truncates the microseconds): what a reader gets back.
    out["created_at_ms"] = int(now.replace(tzinfo=datetime.timezone.utc).timestamp() * 1_000_000) // 1000
    print(json.dumps(out))


if __name__ == "__main__":
    main()
