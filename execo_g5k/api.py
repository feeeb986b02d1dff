"""HTTP access to the Grid5000 REST API: one session, retries, credentials.

Why a class of our own rather than bare ``requests`` calls: the API is far
away and busy, so transient failures (a 503 from the proxy, a reset
connection) must be retried with backoff, but a script must still fail
within ``timeout`` with a message saying what went wrong; and outside
Grid5000 it needs a password, which must come from the user's keyring (or
be asked once), and never be written anywhere else: not in a log, a repr or
an error message, including the text of the exceptions ``requests`` raises.

``requests`` and ``keyring`` are imported when first needed, so that
``import execo_g5k`` works on a machine that has neither and only the code
that talks to the API reports their absence.
"""

from __future__ import annotations

import getpass
import logging
import math
import re
import sys
import threading
import time
from typing import Any, Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

from execo_g5k.config import FromConfiguration, g5k_configuration
from execo_g5k.exception import G5kError
from execo_g5k.credentials import (KEYRING_SERVICE, keyring_password, offer_keyring_storage,
                                    redact, register_secret)

__all__ = ['APIConnection', 'APIException', 'KEYRING_SERVICE', 'forget_credentials']

logger = logging.getLogger('execo.g5k.api')

# Retries of a failed request (beyond the first attempt) and the first
# backoff delay in seconds, doubled at each retry up to _MAX_RETRY_DELAY.
_MAX_RETRY_DELAY = 30.0

_RETRIED_STATUSES = frozenset((500, 502, 503, 504))
_EXCERPT_LENGTH = 200

# Passwords obtained for (base_uri, username): asked at most once per run.
# Keyed by the API too, so a password typed for one server is never sent
# to another.
_passwords_lock = threading.Lock()
_passwords: Dict[Tuple[str, str], str] = {}


def _requests() -> Any:
    try:
        import requests
    except ImportError as exc:
        raise ImportError(
            "execo_g5k needs the 'requests' package to talk to the Grid5000"
            " API: pip install requests") from exc
    return requests


def forget_credentials() -> None:
    """Forget the passwords kept in memory, e.g. after fixing the keyring.

    The next connection looks the password up (or asks for it) again.
    """
    with _passwords_lock:
        _passwords.clear()


def _split_userinfo(uri: str) -> Tuple[str, Optional[str], Optional[str]]:
    """Move credentials out of a URI, so that it can be logged and shown."""
    parts = urlsplit(uri)
    if '@' not in parts.netloc:
        return uri, None, None
    host = parts.netloc.rpartition('@')[2]
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, parts.username, parts.password


def _body_excerpt(response: Any) -> str:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get('message'), str):
        text = payload['message']
    else:
        try:
            text = response.text
        except Exception:  # undecodable body: the status alone will do
            text = ''
    text = re.sub(r'<[^>]*>', ' ', text or '')
    text = ' '.join(text.split())
    if len(text) > _EXCERPT_LENGTH:
        text = text[:_EXCERPT_LENGTH] + '...'
    return text


class APIException(G5kError):
    """A request to the Grid5000 API failed for good (after any retries).

    ``response`` is the last HTTP response (None if the server could not be
    reached), ``exception`` the error that prevented a response, and
    ``status_code`` a shortcut for ``response.status_code``. ``hint`` says
    what the user can do about it. The message never contains a password.
    """

    def __init__(self, uri: str, method: Optional[str], response: Any = None,
                 exception: Optional[BaseException] = None, *,
                 hint: Optional[str] = None, attempts: int = 1) -> None:
        super().__init__(uri, method)
        self.attempts = attempts
        self.uri = _split_userinfo(uri)[0] if uri else uri
        self.method = method
        self.response = response
        self.exception = exception
        self.hint = hint

    @property
    def status_code(self) -> Optional[int]:
        return None if self.response is None else self.response.status_code

    def __str__(self) -> str:
        text = '%s %s' % (self.method, self.uri) if self.method else str(self.uri)
        if self.response is not None:
            text += ': HTTP %s %s' % (self.response.status_code, self.response.reason or '')
            excerpt = _body_excerpt(self.response)
            if excerpt:
                text += ': ' + excerpt
        if self.exception is not None:
            text += ': %s: %s' % (type(self.exception).__name__, self.exception)
        if self.attempts > 1:
            text += ' [%d attempts]' % (self.attempts,)
        if self.hint:
            text += ' (%s)' % (self.hint,)
        return redact(text)

    def __repr__(self) -> str:
        return '<APIException %s>' % (self,)


_auth_class: Any = None


def _hidden_basic_auth(username: str, password: str) -> Any:
    """A requests auth object whose repr does not show the password."""
    global _auth_class
    if _auth_class is None:
        class HiddenBasicAuth(_requests().auth.HTTPBasicAuth):
            def __repr__(self) -> str:
                return '<basic auth for %r>' % (self.username,)

        _auth_class = HiddenBasicAuth
    return _auth_class(username, password)


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


class APIConnection:
    """A session on the Grid5000 API; ``get``/``post`` return decoded JSON.

    Defaults come from ``g5k_configuration``, read when used: ``api_uri``,
    ``api_username`` (None: no authentication, as inside Grid5000),
    ``api_timeout``, ``api_verify_ssl_cert``, ``api_additional_args``
    (query arguments added to every request), ``api_retries`` and
    ``api_retry_delay``. ``timeout`` bounds a whole call, retries included
    (None: no bound, as 2.x's ``timeout=None``).
    ``username=False`` forces an anonymous connection.

    Without ``password``, it is taken from the keyring (service
    ``grid5000_api``), else asked once on the terminal and, once the API
    has accepted it, offered for storage in the keyring.

    >>> api = APIConnection()                                # doctest: +SKIP
    >>> [s['uid'] for s in api.get('sites')['items']]        # doctest: +SKIP
    ['grenoble', 'lille', 'lyon', 'nancy', 'rennes', ...]
    """

    def __init__(self, base_uri: Optional[str] = None, username: Any = None,
                 password: Optional[str] = None,
                 headers: Optional[Mapping[str, str]] = None,
                 additional_args: Optional[Mapping[str, str]] = None,
                 timeout: Any = FromConfiguration('api_timeout'), *,
                 retries: Optional[int] = None,
                 retry_delay: Optional[float] = None) -> None:
        requests = _requests()
        base_uri, uri_username, uri_password = _split_userinfo(
            base_uri or g5k_configuration['api_uri'])
        self.base_uri = base_uri.rstrip('/')
        if username is False:
            self.username: Optional[str] = None
        else:
            self.username = (username or uri_username
                             or g5k_configuration.get('api_username') or None)
        self.headers = dict(headers) if headers else {'Accept': 'application/json'}
        self.additional_args = dict(additional_args or {})
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self._said_insecure = False
        self._session = requests.Session()
        # room for the parallel fetches of api_utils
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=16)
        self._session.mount('http://', adapter)
        self._session.mount('https://', adapter)
        self._session.headers.update(self.headers)
        if self.username:
            password = password or uri_password
            if password:
                register_secret(self.username, password)
            else:
                password = self._obtain_password()
            self._session.auth = _hidden_basic_auth(self.username, password)

    def __repr__(self) -> str:
        return '<APIConnection %s user=%r>' % (self.base_uri, self.username)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> 'APIConnection':
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def get(self, relative_uri: str) -> Any:
        """GET a path below ``base_uri``; the decoded JSON answer.

        >>> APIConnection().get('sites/nancy')['uid']            # doctest: +SKIP
        'nancy'
        """
        return self._request('GET', relative_uri)

    def post(self, relative_uri: str, json: Any) -> Any:
        """POST ``json`` to a path; the decoded JSON answer (None if empty).

        Only failures where the server surely did not act on the request
        (refused connection, 503) are retried: a POST may create a job.
        """
        return self._request('POST', relative_uri, json=json)

    def _build_uri(self, relative_uri: str) -> str:
        return self.base_uri + '/' + relative_uri.lstrip('/')

    def _setting(self, value: Any, key: str) -> Any:
        return g5k_configuration[key] if value is None else value

    def _timeout(self) -> Optional[float]:
        timeout = FromConfiguration.resolve(self.timeout)
        return None if timeout is None else float(timeout)

    def _verify(self) -> Any:
        verify = g5k_configuration.get('api_verify_ssl_cert', True)
        if verify is False and not self._said_insecure:
            self._said_insecure = True
            _silence_insecure_warnings()
            logger.warning("TLS certificate of %s not verified"
                           " (g5k_configuration['api_verify_ssl_cert'] is False)",
                           self.base_uri)
        return verify

    def _params(self) -> Dict[str, str]:
        params = dict(g5k_configuration.get('api_additional_args') or {})
        params.update(self.additional_args)
        return params

    def _request(self, method: str, relative_uri: str, json: Any = None) -> Any:
        requests = _requests()
        uri = self._build_uri(relative_uri)
        timeout = self._timeout()
        retries = int(self._setting(self.retries, 'api_retries'))
        delay = float(self._setting(self.retry_delay, 'api_retry_delay'))
        deadline = time.monotonic() + (math.inf if timeout is None else timeout)
        attempt = 0
        while True:
            attempt += 1
            response = failure = None
            remaining = None if timeout is None else max(deadline - time.monotonic(), 0.01)
            try:
                response = self._session.request(
                    method, uri, params=self._params() or None, json=json,
                    timeout=remaining, verify=self._verify())
            except requests.exceptions.RequestException as exc:
                failure = exc
                retriable = self._retriable_failure(method, exc)
                outcome = '%s: %s' % (type(exc).__name__, redact(str(exc)))
            else:
                if response.ok:
                    return self._decode(method, uri, response)
                retriable = (response.status_code in _RETRIED_STATUSES
                             if method == 'GET' else response.status_code == 503)
                outcome = 'HTTP %s' % (response.status_code,)
            wait = min(delay * 2 ** (attempt - 1), _MAX_RETRY_DELAY)
            if not retriable or attempt > retries or time.monotonic() + wait >= deadline:
                raise self._failure(method, uri, response, failure, timeout,
                                    attempt) from failure
            logger.debug('%s %s: %s, retry %d/%d in %.2fs', method, uri, outcome,
                         attempt, retries, wait)
            time.sleep(wait)  # backoff before retrying, nothing to wait for

    @staticmethod
    def _retriable_failure(method: str, exc: BaseException) -> bool:
        requests = _requests()
        if isinstance(exc, requests.exceptions.SSLError):
            return False  # a certificate does not fix itself
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return True
        if isinstance(exc, (requests.exceptions.ReadTimeout,
                            requests.exceptions.ChunkedEncodingError)):
            # the server may have acted on it: only GET is safe to replay
            return method == 'GET'
        if isinstance(exc, requests.exceptions.ConnectionError):
            return method == 'GET' or _never_connected(exc)
        return False

    def _failure(self, method: str, uri: str, response: Any,
                 failure: Optional[BaseException], timeout: Optional[float],
                 attempts: int) -> APIException:
        requests = _requests()
        hint = None
        if response is not None and response.status_code == 401:
            if self.username:
                with _passwords_lock:
                    _passwords.pop((self.base_uri, self.username), None)
                hint = ("the API refused user %r: check g5k_configuration['api_username']"
                        " and the password in the keyring (service %r; store it again"
                        " with: keyring set %s %s)"
                        % (self.username, KEYRING_SERVICE, KEYRING_SERVICE, self.username))
            else:
                hint = ("the API requires authentication, as it does outside Grid5000:"
                        " set g5k_configuration['api_username']")
        elif isinstance(failure, requests.exceptions.SSLError):
            hint = ("TLS failure: to trust a private certificate authority set"
                    " g5k_configuration['api_verify_ssl_cert'] to its bundle's path")
        elif isinstance(failure, requests.exceptions.Timeout):
            hint = ('no answer within the %ss timeout (APIConnection timeout or'
                    " g5k_configuration['api_timeout'])" % ('%g' % timeout if timeout else '?',))
        elif isinstance(failure, requests.exceptions.ConnectionError):
            hint = ("cannot reach the API: check g5k_configuration['api_uri']"
                    " and the network or proxy settings")
        return APIException(uri, method, response=response, exception=failure, hint=hint,
                            attempts=attempts)

    @staticmethod
    def _decode(method: str, uri: str, response: Any) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise APIException(uri, method, response=response, exception=exc,
                               hint='the answer is not JSON (Content-Type %r)'
                               % (response.headers.get('Content-Type'),)) from None

    # credentials

    def _obtain_password(self) -> str:
        assert self.username
        key = (self.base_uri, self.username)
        with _passwords_lock:
            password = _passwords.get(key)
            if password is None:
                password = keyring_password(self.username)
            if password is None:
                password = self._ask_password()
            register_secret(self.username, password)
            _passwords[key] = password
        return password

    def _ask_password(self) -> str:
        if not _stdin_is_tty():
            raise APIException(self.base_uri, None, hint=(
                "no password for Grid5000 API user %r: none in the keyring"
                " (service %r) and no terminal to ask for one; store it once"
                " with: keyring set %s %s"
                % (self.username, KEYRING_SERVICE, KEYRING_SERVICE, self.username)))
        prompt = 'Grid5000 API password for %s (%s): ' % (self.username, self.base_uri)
        for _ in range(3):
            try:
                password = getpass.getpass(prompt)
            except EOFError:
                break
            register_secret(self.username, password)
            accepted = self._check_password(password)
            if accepted is False:
                sys.stderr.write('The API refused this password.\n')
                continue
            if accepted:
                offer_keyring_storage(self.username, password)
            return password
        raise APIException(self.base_uri, None, hint=(
            "no valid password given for Grid5000 API user %r" % (self.username,)))

    def _check_password(self, password: str) -> Optional[bool]:
        """True if the API accepts it, False if it refuses, None if unknown."""
        requests = _requests()
        try:
            response = self._session.get(
                self.base_uri + '/', auth=_hidden_basic_auth(self.username, password),
                timeout=self._timeout(),
                verify=self._verify())
        except requests.exceptions.RequestException as exc:
            logger.warning('could not check the Grid5000 API password: %s',
                           redact('%s: %s' % (type(exc).__name__, exc)))
            return None
        if response.status_code == 401:
            return False
        return True if response.ok else None


def _never_connected(exc: BaseException) -> bool:
    """Whether a ConnectionError happened before anything was sent."""
    import urllib3
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, 'reason', inner)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _silence_insecure_warnings() -> None:
    """One log line per connection instead of a urllib3 warning per request."""
    try:
        import urllib3
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    except (ImportError, AttributeError):
        pass

