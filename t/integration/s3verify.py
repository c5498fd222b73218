"""A reverse proxy that checks AWS Signature V4 the way S3 does, in front of s3rver.

s3rver serves objects but accepts any V4 signature (it only looks the access key id up), so
the integration tests put this verifier between nginx (or a test client) and s3rver. For
every request it rebuilds a botocore AWSRequest from what it received -- the method, the
request target exactly as sent (no decoding, no normalising), the signed headers -- and has
botocore's own signer compute the signature again:

- header auth (`Authorization: AWS4-HMAC-SHA256 ...`): botocore.auth.S3SigV4Auth with the
  timestamp taken from the X-Amz-Date header and the headers named in SignedHeaders;
- query auth (presigned URL, `X-Amz-Algorithm=...`): botocore.auth.S3SigV4QueryAuth with
  X-Amz-Date and X-Amz-Expires taken from the query, the canonical query being the query as
  received minus X-Amz-Signature.

Only the pieces of the signer that compute are called (canonical_request, string_to_sign,
signature); add_auth and _modify_request_before_signing, which would re-date and rewrite
the request, are not. Signatures are compared with hmac.compare_digest.

A refusal is S3's: 403 with an XML <Error> (SignatureDoesNotMatch, AccessDenied "Request has
expired", InvalidAccessKeyId, ...). An accepted request is forwarded unchanged to s3rver, and
the answer relayed with `Server: AmazonS3`, `x-amz-request-id` and `x-amz-id-2` added to every
response, so tests can check that nginx hides what reveals the backend.

Two answers s3rver cannot give are the verifier's own, after the signature holds:
- `If-Match` (GET, HEAD): s3rver ignores it, so the verifier compares it with the ETag of
  s3rver's answer and sends S3's 412 PreconditionFailed when no listed tag matches;
- `Verifier.force(path, status, code)`: every verified request for `path` is answered with
  that S3 error (a 503 SlowDown, a 301 PermanentRedirect, ...), for the tests of store errors.

Every request is recorded (`Verifier.records`) for assertions.

Credentials: s3rver itself only knows the access key id "S3RVER", so the tests use that id
with a secret only the verifier knows. A rotation therefore keeps the id and changes the secret
and session token: an id may map to several sets, the request's token picking its own, and a
set may carry an expiry after which S3's 400 ExpiredToken answers (test_credentials.py).
"""

import datetime
import hashlib
import hmac
import http.client
import http.server
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = 15 * 60  # S3's RequestTimeTooSkewed limit for header-signed requests
MAX_EXPIRES = 604800  # seven days
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "trailers",
              "transfer-encoding", "upgrade"}
AUTH_HEADER = re.compile(
    r"AWS4-HMAC-SHA256 +Credential=([^,\s]+), *SignedHeaders=([^,\s]+), *Signature=([0-9a-f]{64})")


@dataclass
class Record:
    """One request as the verifier saw it and judged it."""
    method: str
    target: str            # the request target exactly as received
    host: str
    auth: str              # "header", "query" or "anonymous"
    verdict: str           # "verified" or "refused"
    code: str = ""         # S3 error code when refused
    message: str = ""
    status: int = 0        # the status sent to the client
    canonical_request: str = ""
    headers: dict = field(default_factory=dict)
    token: str = ""        # the session token it was signed with ("" for none)
    at: float = field(default_factory=time.time)  # when it arrived

    @property
    def path(self):
        return self.target.partition("?")[0]

    @property
    def query(self):
        return self.target.partition("?")[2]


class Refusal(Exception):
    def __init__(self, status, code, message, canonical_request="", string_to_sign=""):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.canonical_request = canonical_request
        self.string_to_sign = string_to_sign


def parse_amz_date(value):
    try:
        parsed = datetime.datetime.strptime(value, SIGV4_TIMESTAMP)
    except (TypeError, ValueError):
        return None
    return parsed.replace(tzinfo=datetime.timezone.utc).timestamp()


def raw_pairs(query):
    """The query's name=value pairs as sent, in order (no decoding)."""
    return [pair.partition("=") for pair in query.split("&")] if query else []


class Verifier:
    """A threaded HTTP server on 127.0.0.1 that verifies SigV4 and forwards to `upstream_port`.

    `credentials` maps access key id -> (secret, session token or None[, expiry unix time]),
    or to a list of such sets sharing the id (mid-rotation): the one whose token the request
    carries is checked. Replacing `credentials` switches sets at once."""

    def __init__(self, upstream_port, credentials, region="us-east-1", port=0, clock=time.time):
        self.upstream_port = upstream_port
        self.credentials = dict(credentials)
        self.region = region
        self.clock = clock
        self.records = []
        self.forced = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.verifier = self
        self.port = self._server.server_address[1]
        self._thread = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- records -----------------------------------------------------------------------------
    def record(self, rec):
        with self._lock:
            self.records.append(rec)

    def clear(self):
        with self._lock:
            self.records.clear()

    def since(self, mark):
        with self._lock:
            return list(self.records[mark:])

    def mark(self):
        with self._lock:
            return len(self.records)

    def force(self, path, status, code, message="forced by the test"):
        """Answers every verified request for `path` (as sent, encoded) with this S3 error."""
        with self._lock:
            self.forced[path] = Refusal(status, code, message)

    def unforce(self, path):
        with self._lock:
            self.forced.pop(path, None)

    # -- the check ---------------------------------------------------------------------------
    def check(self, method, target, headers, body, rec):
        """Raises Refusal unless `target` with `headers` carries a valid V4 signature."""
        if any(ord(c) > 0x7e or ord(c) < 0x21 for c in target) or "#" in target:
            raise Refusal(400, "InvalidURI", "Couldn't parse the specified URI.")
        path, _, query = target.partition("?")
        names = [name for name, _, _ in raw_pairs(query)]
        authorization = headers.get_all("authorization")
        is_query = "X-Amz-Algorithm" in names
        if authorization and is_query:
            rec.auth = "header+query"
            raise Refusal(400, "InvalidArgument", "Only one auth mechanism allowed")
        if authorization:
            rec.auth = "header"
            return self._check_header(method, path, query, headers, body, rec)
        if is_query:
            rec.auth = "query"
            return self._check_query(method, path, query, headers, rec)
        rec.auth = "anonymous"
        raise Refusal(403, "AccessDenied", "Access Denied")

    def _secret(self, access_key, given_token=None):
        entry = self.credentials.get(access_key)
        if entry is None:
            raise Refusal(403, "InvalidAccessKeyId",
                          "The AWS Access Key Id you provided does not exist in our records.")
        sets = entry if isinstance(entry, list) else [entry]
        chosen = next((c for c in sets if c[1] is not None and c[1] == given_token), sets[0])
        if len(chosen) > 2 and chosen[2] is not None and self.clock() >= chosen[2]:
            raise Refusal(400, "ExpiredToken", "The provided token has expired.")
        return chosen[0], chosen[1]

    def _scope_ok(self, scope, amz_date):
        parts = scope.split("/")
        return (len(parts) == 5 and parts[1] == amz_date[:8] and parts[2] == self.region
                and parts[3] == "s3" and parts[4] == "aws4_request")

    @staticmethod
    def _request(method, path, query, headers, signed_headers):
        """botocore's AWSRequest for what was received, with only the signed headers."""
        url = "http://verifier" + path + ("?" + query if query else "")
        parts = urlsplit(url)
        if parts.path != path or parts.query != query:
            raise Refusal(400, "InvalidURI", "Couldn't parse the specified URI.")
        request = AWSRequest(method=method, url=url)
        for name in signed_headers:
            values = headers.get_all(name)
            if not values:
                raise Refusal(403, "SignatureDoesNotMatch",
                              f"signed header {name} is missing from the request")
            for value in values:
                request.headers[name] = value
        return request

    def _check_header(self, method, path, query, headers, body, rec):
        (authorization,) = headers.get_all("authorization")
        m = AUTH_HEADER.fullmatch(authorization.strip())
        if not m:
            raise Refusal(400, "AuthorizationHeaderMalformed",
                          "The authorization header is malformed.")
        credential, signed, provided = m.groups()
        access_key, _, scope = credential.partition("/")
        rec.token = headers.get("x-amz-security-token") or ""
        secret, token = self._secret(access_key, headers.get("x-amz-security-token"))

        amz_date = headers.get("x-amz-date")
        when = parse_amz_date(amz_date)
        if when is None:
            raise Refusal(403, "AccessDenied",
                          "AWS authentication requires a valid Date or x-amz-date header")
        if abs(self.clock() - when) > MAX_SKEW:
            raise Refusal(403, "RequestTimeTooSkewed",
                          "The difference between the request time and the current time is "
                          "too large.")
        if not self._scope_ok(credential, amz_date):
            raise Refusal(400, "AuthorizationHeaderMalformed",
                          f"The authorization header is malformed; the credential scope "
                          f"{scope!r} does not match the date or the region "
                          f"{self.region!r}.")
        content_sha256 = headers.get("x-amz-content-sha256")
        if content_sha256 is None:
            raise Refusal(400, "InvalidRequest",
                          "Missing required header for this request: x-amz-content-sha256")
        if re.fullmatch(r"[0-9a-f]{64}", content_sha256):
            if content_sha256 != hashlib.sha256(body).hexdigest():
                raise Refusal(400, "XAmzContentSHA256Mismatch",
                              "The provided 'x-amz-content-sha256' header does not match what "
                              "was computed.")
        elif content_sha256 != "UNSIGNED-PAYLOAD":
            raise Refusal(400, "InvalidArgument", "x-amz-content-sha256 must be "
                          "UNSIGNED-PAYLOAD or a valid sha256 value.")
        signed_headers = signed.split(";")
        if "host" not in signed_headers:
            raise Refusal(403, "SignatureDoesNotMatch", "host must be a signed header")
        unsigned = sorted({n.lower() for n in headers.keys()
                           if n.lower().startswith("x-amz-")} - set(signed_headers))
        if unsigned:
            raise Refusal(403, "AccessDenied", "There were headers present in the request "
                          f"which were not signed: {', '.join(unsigned)}")
        self._check_token(token, headers.get("x-amz-security-token"))

        request = self._request(method, path, query, headers, signed_headers)
        request.context["timestamp"] = amz_date
        signer = S3SigV4Auth(Credentials(access_key, secret, token), "s3", self.region)
        self._compare(signer, request, signed, provided, rec)

    def _check_query(self, method, path, query, headers, rec):
        pairs = raw_pairs(query)
        auth = {}
        for name, _, value in pairs:
            if name.startswith("X-Amz-"):
                if name in auth:
                    raise Refusal(400, "AuthorizationQueryParametersError",
                                  f"{name} is given twice")
                auth[name] = unquote(value)
        needed = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                  "X-Amz-SignedHeaders", "X-Amz-Expires")
        if any(n not in auth for n in needed) or auth["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
            raise Refusal(400, "AuthorizationQueryParametersError",
                          "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                          "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                          "and X-Amz-Expires parameters.")
        access_key, _, scope = auth["X-Amz-Credential"].partition("/")
        rec.token = auth.get("X-Amz-Security-Token") or ""
        secret, token = self._secret(access_key, auth.get("X-Amz-Security-Token"))
        amz_date = auth["X-Amz-Date"]
        when = parse_amz_date(amz_date)
        if when is None:
            raise Refusal(400, "AuthorizationQueryParametersError",
                          "X-Amz-Date must be in the ISO8601 Long Format")
        if not re.fullmatch(r"[0-9]{1,6}", auth["X-Amz-Expires"]) or not (
                1 <= int(auth["X-Amz-Expires"]) <= MAX_EXPIRES):
            raise Refusal(400, "AuthorizationQueryParametersError",
                          "X-Amz-Expires must be between 1 and 604800 seconds")
        expires = int(auth["X-Amz-Expires"])
        if not self._scope_ok(auth["X-Amz-Credential"], amz_date):
            raise Refusal(400, "AuthorizationQueryParametersError",
                          f"the credential scope {scope!r} does not match the date or the "
                          f"region {self.region!r}")
        self._check_token(token, auth.get("X-Amz-Security-Token"))
        provided = auth["X-Amz-Signature"]
        unsigned_query = "&".join(n + s + v for n, s, v in pairs if n != "X-Amz-Signature")
        signed = auth["X-Amz-SignedHeaders"]
        signed_headers = signed.split(";")
        if "host" not in signed_headers:
            raise Refusal(403, "SignatureDoesNotMatch", "host must be a signed header")

        request = self._request(method, path, unsigned_query, headers, signed_headers)
        request.context["timestamp"] = amz_date
        signer = S3SigV4QueryAuth(Credentials(access_key, secret, token), "s3", self.region,
                                  expires=expires)
        self._compare(signer, request, signed, provided, rec)
        # Checked once the signature holds, so an "expired" refusal means just that.
        now = self.clock()
        if now > when + expires:
            raise Refusal(403, "AccessDenied", "Request has expired")
        if when > now + MAX_SKEW:
            raise Refusal(403, "AccessDenied", "Request is not valid yet")

    @staticmethod
    def _check_token(expected, given):
        if expected is None and given is None:
            return
        if expected is None or given is None or not hmac.compare_digest(
                expected.encode(), given.encode()):
            raise Refusal(403, "InvalidToken", "The provided token is malformed or otherwise "
                          "invalid.")

    @staticmethod
    def _compare(signer, request, signed, provided, rec):
        if signer.signed_headers(signer.headers_to_sign(request)) != signed:
            raise Refusal(403, "SignatureDoesNotMatch",
                          f"SignedHeaders {signed!r} is not the sorted, lower-case list of "
                          "the headers it names")
        canonical = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical)
        expected = signer.signature(string_to_sign, request)
        rec.canonical_request = canonical
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            raise Refusal(403, "SignatureDoesNotMatch",
                          "The request signature we calculated does not match the signature "
                          "you provided. Check your key and signing method.",
                          canonical, string_to_sign)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def version_string(self):
        return "AmazonS3"

    def log_message(self, *args):
        pass

    def _ids(self):
        self.send_header("x-amz-request-id", uuid.uuid4().hex[:16].upper())
        self.send_header("x-amz-id-2", uuid.uuid4().hex + uuid.uuid4().hex)

    def _body(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            raise Refusal(501, "NotImplemented", "chunked request bodies are not supported")
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self):
        verifier = self.server.verifier
        rec = Record(self.command, self.path, self.headers.get("host", ""), "anonymous",
                     "refused", headers={k.lower(): v for k, v in self.headers.items()})
        try:
            try:
                body = self._body()
                verifier.check(self.command, self.path, self.headers, body, rec)
            except Refusal as refusal:
                rec.code, rec.message, rec.status = refusal.code, refusal.message, refusal.status
                verifier.record(rec)
                self._refuse(refusal)
                return
            rec.verdict = "verified"
            with verifier._lock:
                forced = verifier.forced.get(rec.path)
            if forced is not None:
                rec.status = forced.status
                verifier.record(rec)
                self._refuse(forced)
                return
            verifier.record(rec)
            self._forward(body, rec)
        except (ConnectionError, socket.timeout):
            self.close_connection = True

    def _refuse(self, refusal):
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
               f"<Code>{refusal.code}</Code><Message>{_xml(refusal.message)}</Message>")
        if refusal.string_to_sign:
            xml += (f"<StringToSign>{_xml(refusal.string_to_sign)}</StringToSign>"
                    f"<CanonicalRequest>{_xml(refusal.canonical_request)}</CanonicalRequest>")
        xml += f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
        data = xml.encode()
        self.send_response(refusal.status)
        self._ids()
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _forward(self, body, rec):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.verifier.upstream_port,
                                          timeout=15)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            if_match = self.headers.get("if-match") if self.command in ("GET", "HEAD") else None
            for name, value in self.headers.items():
                if name.lower() in HOP_BY_HOP or name.lower() in ("content-length", "if-match"):
                    continue
                conn.putheader(name, value)
            if body or self.command in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            if if_match is not None and resp.status in (200, 206) and not _tag_matches(
                    if_match, resp.getheader("etag")):
                rec.status = 412
                self._refuse(Refusal(412, "PreconditionFailed", "At least one of the "
                                     "pre-conditions you specified did not hold"))
                return
            headers = [(k, v) for k, v in resp.getheaders()
                       if k.lower() not in HOP_BY_HOP
                       and k.lower() not in ("server", "date", "x-amz-request-id", "x-amz-id-2")]
            length = resp.getheader("content-length")
            no_body = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
            data = None
            if length is None and not no_body:
                data = resp.read()
                headers.append(("Content-Length", str(len(data))))
            rec.status = resp.status  # before the client can see the answer
            self.send_response(resp.status, resp.reason)
            self._ids()
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if no_body:
                return
            if data is not None:
                self.wfile.write(data)
            else:
                while True:
                    chunk = resp.read(65536)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
        finally:
            conn.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = _handle


def _tag_matches(if_match, etag):
    """If-Match: `*`, or one of the listed entity tags equals the object's (strong comparison)."""
    tags = [t.strip() for t in if_match.split(",")]
    return "*" in tags or (etag is not None and etag.strip() in tags)


def _xml(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- a client that signs with botocore, for uploads and direct checks -----------------------

def object_path(bucket, key):
    """/bucket/key, URI-encoded as SigV4 wants it (unreserved bytes and '/' kept)."""
    return "/" + quote(bucket, safe="") + "/" + quote(key, safe="/~")


def signed_request(port, method, path, access_key, secret, region="us-east-1", body=b"",
                   headers=None, host=None, token=None, timeout=15):
    """Sends `method path` to 127.0.0.1:port signed by botocore's S3SigV4Auth.

    Returns (status, headers dict lower-cased, body)."""
    host = host or f"127.0.0.1:{port}"
    request = AWSRequest(method=method, url=f"http://{host}{path}", data=body,
                         headers=dict(headers or {}))
    S3SigV4Auth(Credentials(access_key, secret, token), "s3", region).add_auth(request)
    prepared = request.prepare()
    return raw_request(port, method, path, dict(prepared.headers.items()), body, timeout, host)


def raw_request(port, method, target, headers=None, body=b"", timeout=15, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        sent = {k.lower() for k in (headers or {})}
        if "host" not in sent:
            conn.putheader("Host", host or f"127.0.0.1:{port}")
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body and "content-length" not in sent:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()
