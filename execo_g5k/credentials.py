"""Grid5000 API passwords kept out of sight: the keyring, and the scrubbing
of every text that might hold one.

`execo_g5k.api` obtains a password (from the keyring, or by asking once)
and registers it here; from then on `redact` masks it, and its basic-auth
encoding, in whatever text is about to be logged or raised, whatever its
origin (a server echoing a header, a URL inside an exception...).
``keyring`` is imported when first needed: without it, passwords are
simply not stored.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from typing import Any, Optional

__all__ = ["KEYRING_SERVICE", "keyring_password", "offer_keyring_storage", "redact",
           "register_secret"]

logger = logging.getLogger('execo.g5k.api')

KEYRING_SERVICE = 'grid5000_api'

# Every password this process has handled, and its basic-auth encoding, so
# that any text execo_g5k produces can be scrubbed of them whatever its
# origin (a server echoing a header, a URL inside an exception...).
_secrets_lock = threading.Lock()
_secrets: set = set()


def _keyring() -> Any:
    try:
        import keyring
    except ImportError:
        logger.debug("python package 'keyring' not installed:"
                     " Grid5000 API passwords will not be stored")
        return None
    return keyring


def register_secret(username: str, password: str) -> None:
    token = base64.b64encode(('%s:%s' % (username, password)).encode()).decode()
    with _secrets_lock:
        _secrets.update((password, token))


_USERINFO = re.compile(r'(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@')


def redact(text: str) -> str:
    """``text`` with URL credentials and every known password masked."""
    text = _USERINFO.sub(r'\1***@', text)
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret:
            text = text.replace(secret, '***')
    return text


def keyring_password(username: str) -> Optional[str]:
    keyring = _keyring()
    if keyring is None:
        return None
    try:
        password = keyring.get_password(KEYRING_SERVICE, username)
    except Exception as exc:  # no usable backend: behave as if it were empty
        logger.debug('keyring unusable (%s): %s', type(exc).__name__, redact(str(exc)))
        return None
    if password:
        logger.debug('Grid5000 API password of %r taken from the keyring', username)
    return password or None


def offer_keyring_storage(username: str, password: str) -> None:
    keyring = _keyring()
    if keyring is None:
        return
    try:
        answer = input('Store this password in the keyring (service %s)? [Y/n] '
                       % (KEYRING_SERVICE,))
    except EOFError:
        return
    if answer.strip().lower() not in ('', 'y', 'yes'):
        return
    try:
        keyring.set_password(KEYRING_SERVICE, username, password)
    except Exception as exc:  # storage is a convenience: say why and go on
        logger.warning('could not store the password in the keyring (%s): %s',
                       type(exc).__name__, redact(str(exc)))
