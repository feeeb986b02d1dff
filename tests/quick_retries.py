"""Connection params for tests whose subject is not the retries.

A refused connection is tried ``connect_attempts`` times (10, `execo.retry`)
with back-off delays that add up to about 28 s. A test that only needs a
connection to fail (an unreachable frontend, a closed port) merges these:
the same attempts, the same reasons, over about 2 s. The retries' own tests
(tests/integration/test_connect_retries.py) keep the defaults or set their
own.
"""

QUICK_RETRIES = {'connect_retry_delay': 0.05, 'connect_retry_max_delay': 0.2}
