"""Credentials for the client tests, made as an operator makes them: skyport API tokens created
and revoked with the real `skyport token` command against a server's own configuration (so the
token lands in that archive's database), and sent as a client would, `Authorization: Bearer`.
"""
import os
import re
import subprocess
from pathlib import Path

REPO = Path(os.environ.get("SKYPORT_REPO", Path(__file__).resolve().parents[2]))
BIN = os.environ.get("SKYPORT_BIN", str(REPO / "target" / "debug" / "skyport"))
TOKEN_FORM = re.compile(r"skp_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def demo_config():
    """The configuration of the demo archive the client tests run against."""
    return Path(os.environ["SKYPORT_DEMO_DIR"]) / "skyport.toml"


def _skyport(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"skyport {' '.join(args[:2])}: exit {r.returncode}\n{r.stderr}"
    return r


def create_token(config, user, scopes, groups=(), expires=None):
    """A new API token for `user` with `scopes` (and memberships of `groups`), made with
    `skyport token create --config CONFIG`; the command prints the token alone on stdout."""
    args = ["token", "create", "--config", str(config), "--user", user, "--scopes", ",".join(scopes)]
    if groups:
        args += ["--groups", ",".join(groups)]
    if expires:
        args += ["--expires", expires]
    out = _skyport(*args).stdout
    token = out.strip()
    assert TOKEN_FORM.fullmatch(token), f"token create printed more than a token: {out!r}"
    return token


def token_key(token):
    """The key of a token (the part between `skp_` and the dot), as `token list` shows it."""
    return token[len("skp_"):].split(".", 1)[0]


def revoke_token(config, token):
    """Revokes `token` by its key with `skyport token revoke`. Servers that already looked
    the token up keep accepting it for up to `[auth] cache_seconds`."""
    _skyport("token", "revoke", "--config", str(config), token_key(token))


def bearer(token):
    """The request headers that present `token`."""
    return {"Authorization": f"Bearer {token}"}
