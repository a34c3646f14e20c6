"""Requests that gunicorn rejects before they reach the app: respond to them in JSON like the
app's own errors, and keep the contents of malformed header lines out of the log.

Gunicorn responds to a request line over 4094 bytes, a header value with a control character
or a header line without a colon by itself, with an HTML page. Its warning for a header
line without a colon quotes the whole line, which may be ``Authorization Bearer <key>``.
"""

import json
import logging
import re

from gunicorn import util

# Gunicorn's warning for a malformed header quotes the header name or the whole line.
_QUOTED_HEADER = re.compile(r"(?P<prefix>Invalid HTTP Header: )(?P<quoted>'.*'|\".*\")", re.DOTALL)
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def install():
    """Make gunicorn's error responses JSON and filter its log; call before it serves."""
    # NOTE: gunicorn 27 has no setting for the body of its own error responses. Its workers
    # write them through util.write_error alone, so replacing that function is enough.
    util.write_error = write_json_error
    error_log = logging.getLogger("gunicorn.error")
    if not any(isinstance(existing, HeaderLineFilter) for existing in error_log.filters):
        error_log.addFilter(HeaderLineFilter())


def write_json_error(sock, status_int, reason, mesg):
    """Write gunicorn's error answer as ``{"error": ...}`` and close the exchange.

    Same arguments as gunicorn's ``util.write_error``: the socket, status code, reason
    phrase and gunicorn's message, which may quote the rejected request line.
    """
    message = f"{reason}: {mesg}" if mesg else reason
    body = json.dumps({"error": message}, separators=(",", ":")).encode("ascii")
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "Access-Control-Allow-Origin: *\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class HeaderLineFilter(logging.Filter):
    """Replace a quoted header line in gunicorn's warnings by its length.

    A quoted header name alone is kept, because it carries no credential.
    """

    def filter(self, record):
        message = record.getMessage()
        redacted = _QUOTED_HEADER.sub(_redact, message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def _redact(match):
    quoted = match["quoted"][1:-1]
    if _HEADER_NAME.fullmatch(quoted):
        return match[0]
    return f"{match['prefix']}a malformed header line of {len(quoted)} characters (not logged)"
