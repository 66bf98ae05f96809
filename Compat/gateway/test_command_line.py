"""The ``chatify`` command line: help, version, ``--env-file`` and ``check-config``.

Each run happens in a fresh temporary working directory with only the environment given
here, so no stray ``.env`` or caller variable is read.
"""

import os
import subprocess

import pytest

from conftest import base_environment, chatify_binary

RUN_TIMEOUT = 60


def run_chatify(*arguments, cwd, **overrides):
    environment = base_environment()
    environment.update(overrides)
    return subprocess.run(
        [str(chatify_binary()), *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )


def test_help_lists_the_options_and_exits_0(tmp_path):
    result = run_chatify("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for option in ("--env-file", "--version", "--help", "check-config"):
        assert option in result.stdout


def test_version_prints_the_version(tmp_path):
    result = run_chatify("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0.9.0"


def test_env_file_that_does_not_exist_is_refused_naming_it(tmp_path):
    missing = tmp_path / "production.env"
    result = run_chatify("--env-file", str(missing), cwd=tmp_path)
    assert result.returncode != 0
    assert str(missing) in result.stderr
    assert "chatify listening" not in result.stdout


def test_env_file_with_a_malformed_line_is_refused_naming_the_line(tmp_path):
    env_file = tmp_path / "chat.env"
    env_file.write_text("# settings\nDATABASE_NAME=chat\n\nthis line has no equals sign\n")
    result = run_chatify("--env-file", str(env_file), cwd=tmp_path)
    assert result.returncode != 0
    assert f"{env_file}:4" in result.stderr


def test_dot_env_with_a_bad_variable_name_is_refused_naming_the_line(tmp_path):
    (tmp_path / ".env").write_text("PORT=0\nBAD NAME=1\n")
    result = run_chatify("check-config", cwd=tmp_path)
    assert result.returncode != 0
    assert ".env:2" in result.stderr


def test_env_file_values_are_used(tmp_path):
    env_file = tmp_path / "chat.env"
    env_file.write_text("DATABASE_NAME=from_env_file\n")
    (tmp_path / ".env").write_text("DATABASE_NAME=from_dot_env\n")
    result = run_chatify("check-config", "--env-file", str(env_file), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "DATABASE_NAME=from_env_file" in result.stdout.splitlines()


def test_check_config_masks_secrets_and_warns_about_the_default_jwt_secret(tmp_path):
    environment = base_environment()
    del environment["JWT_SECRET_KEY"]
    result = subprocess.run(
        [str(chatify_binary()), "check-config"],
        cwd=tmp_path,
        env={**environment, "REDIS_URL": "redis://user:redis-password@localhost:6379/0"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "JWT_SECRET_KEY=********" in lines
    assert "jwt-secret-key-change-this" not in result.stdout
    assert "redis-password" not in result.stdout
    assert "REDIS_URL=redis://user:********@localhost:6379/0" in lines
    assert any(line.startswith("warning: JWT_SECRET_KEY") for line in lines)


def test_check_config_never_prints_a_chosen_secret(tmp_path):
    secret = "a-very-private-signing-key"
    result = run_chatify(
        "check-config",
        cwd=tmp_path,
        JWT_SECRET_KEY=secret,
        SECRET_KEY="flask-private",
        MONGODB_ATLAS_URI="mongodb+srv://alice:mongo-password@cluster.example/chat",
    )
    assert result.returncode == 0, result.stderr
    for private in (secret, "flask-private", "mongo-password"):
        assert private not in result.stdout
    assert not any(line.startswith("warning: JWT_SECRET_KEY") for line in result.stdout.splitlines())


@pytest.mark.parametrize("arguments", [("check-config",), ()])
def test_bad_port_is_refused_naming_the_variable(tmp_path, arguments):
    result = run_chatify(*arguments, cwd=tmp_path, PORT="http")
    assert result.returncode != 0
    assert "PORT=http" in result.stderr


def test_an_unreadable_redis_tls_file_refuses_the_start_naming_the_variable(tmp_path):
    missing = str(tmp_path / "missing-ca.pem")
    result = run_chatify(cwd=tmp_path, REDIS_URL="rediss://127.0.0.1:6380", REDIS_TLS_CA_FILE=missing)
    assert result.returncode == 2
    assert f"REDIS_TLS_CA_FILE={missing}" in result.stderr
    assert "chatify listening" not in result.stdout


def test_a_redis_tls_file_without_rediss_refuses_the_start_naming_the_variable(tmp_path):
    result = run_chatify(cwd=tmp_path, REDIS_URL="redis://127.0.0.1:6379", REDIS_TLS_CA_FILE="ca.pem")
    assert result.returncode == 2
    assert "REDIS_TLS_CA_FILE=ca.pem" in result.stderr
    assert "rediss://" in result.stderr


@pytest.mark.parametrize("variable", ["LOG_LEVEL", "LOG_FORMAT"])
def test_a_log_setting_that_is_not_known_refuses_the_start(tmp_path, variable):
    result = run_chatify(cwd=tmp_path, **{variable: "verbose"})
    assert result.returncode == 2
    assert f"{variable}=verbose" in result.stderr
    assert "chatify listening" not in result.stdout


def test_check_config_prints_the_resource_paths_it_found(tmp_path):
    result = run_chatify("check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    client = base_environment()["SOCKETIO_CLIENT_JS"]
    assert f"Socket.IO client: {client}" in lines
    templates = next(line for line in lines if line.startswith("templates: "))
    assert os.path.isfile(os.path.join(templates.removeprefix("templates: "), "chat.mustache")), templates
    assert any(line.startswith("static files: ") for line in lines)


@pytest.mark.parametrize(
    "variable,value",
    [("SOCKETIO_CLIENT_JS", "missing/socket.io.min.js"), ("CHATIFY_RESOURCES", "no-such-folder")],
)
def test_a_resource_that_cannot_be_found_refuses_the_start_naming_where_it_looked(tmp_path, variable, value):
    result = run_chatify(cwd=tmp_path, **{variable: value})
    assert result.returncode == 2
    assert variable in result.stderr and str(tmp_path / value) in result.stderr
    assert "chatify listening" not in result.stdout
