#!/usr/bin/python3
"""Reference SigV4 signatures from botocore, for t/unit/test_sigv4.cpp.

Usage: sigv4_reference.py SEED COUNT

Generates COUNT signed GETs and COUNT presigned GETs from a seeded random source and prints one
case per line: space-separated name=hex(utf-8 value) fields, inputs and botocore's outputs.
The time is fixed per case by replacing botocore.auth's datetime module.
"""
import datetime
import random
import sys
import types
from urllib.parse import quote

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class FixedClock(datetime.datetime):
    """datetime.datetime whose now()/utcnow() return the case's time (any botocore version)."""

    fixed = datetime.datetime(2013, 5, 24)

    @classmethod
    def utcnow(cls):
        return cls.fixed

    @classmethod
    def now(cls, tz=None):
        return cls.fixed.replace(tzinfo=tz)


botocore.auth.datetime = types.SimpleNamespace(
    datetime=FixedClock, timezone=datetime.timezone, timedelta=datetime.timedelta)
if hasattr(botocore.auth, 'get_current_datetime'):  # newer botocore asks botocore.compat
    botocore.auth.get_current_datetime = lambda *args, **kwargs: FixedClock.fixed

REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-2', 'us-gov-west-1', 'cn-north-1', 'garage']
# (endpoint, schemes it may be reached by); default ports only where the scheme drops them.
GET_ENDPOINTS = [
    ('s3.amazonaws.com', ['https', 'http']),
    ('s3.eu-west-1.amazonaws.com', ['https']),
    ('127.0.0.1:9000', ['http', 'https']),
    ('localhost:9000', ['http']),
    ('minio.internal:8443', ['https']),
    ('[::1]:9000', ['http']),
    ('S3.Example.COM', ['https']),
]
PRESIGN_ENDPOINTS = GET_ENDPOINTS + [
    ('s3.example.com:443', ['https']),
    ('storage.example.com:80', ['http']),
    ('storage.example.com:443', ['http']),
]
BUCKETS = ['examplebucket', 'my.dotted.bucket', 'assets-prod-01', 'b0']
KEY_PIECES = (
    list('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')
    + ['/', '/', ' ', '  ', '+', '~', '%', '%20', '=', '&', '?', '#', '-', '_', '.', '..',
       '!', '*', "'", '(', ')', ';', ':', '@', ',', '$', '[', ']', '"', '<', '>', '\\', '^', '`',
       '{', '}', '|', 'é', 'ñ', '日本語', '😀', 'Ω', '\u00a0', '\t', '\x7f', '\x01']
)
CONTENT_TYPES = ['image/png', 'text/plain; charset=utf-8', 'application/octet-stream',
                 'text/html; charset="utf-8"', 'video/mp4']
DISPOSITIONS = [
    'inline',
    'attachment',
    'attachment; filename="report 2024.pdf"',
    'attachment; filename="na\u00efve caf\u00e9.txt"; filename*=UTF-8\'\'na%C3%AFve%20caf%C3%A9.txt',
    'inline; filename="a;b=c&d?e#f+g~h.png"',
    'attachment; filename="日本語 ファイル.zip"',
]


def random_token(rng, size):
    alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/='
    return ''.join(rng.choice(alphabet) for _ in range(size))


def random_key(rng):
    roll = rng.random()
    if roll < 0.05:
        return 'test.txt'
    target = rng.choice([1, 3, 8, 20, 60]) if roll < 0.85 else rng.randint(1000, 1400)
    key = ''.join(rng.choice(KEY_PIECES) for _ in range(target))
    if rng.random() < 0.15:
        key = '/' + key  # S3 keeps a leading slash: the path gets "//"
    return key


def random_case(rng, endpoints):
    endpoint, schemes = rng.choice(endpoints)
    case = {
        'endpoint': endpoint,
        'scheme': rng.choice(schemes),
        'bucket': rng.choice(BUCKETS),
        'region': rng.choice(REGIONS),
        'addressing': rng.choice(['path', 'virtual_host']),
        'key': random_key(rng),
        'akid': 'AKIA' + random_token(rng, 16).upper().replace('+', 'X').replace('/', 'Y')
                .replace('=', 'Z'),
        'secret': random_token(rng, 40),
        'token': random_token(rng, rng.choice([64, 356])) if rng.random() < 0.4 else '',
        # 2000-01-01 .. 2099-12-31, plus the AWS example's date now and then.
        'now': str(rng.choice([1369353600, rng.randint(946684800, 4102444799)])),
    }
    if endpoint.startswith('['):
        case['addressing'] = 'path'  # "bucket.[::1]" is no host name
    return case


def url_of(case):
    host = case['endpoint']
    path = '/'
    if case['addressing'] == 'virtual_host':
        host = case['bucket'] + '.' + host
    else:
        path += case['bucket'] + '/'
    # botocore's S3 serializer encodes keys this way; quote's always-safe set is A-Za-z0-9_.-~
    path += quote(case['key'].encode('utf-8'), safe='/~')
    return case['scheme'] + '://' + host + path, path


def credentials(case):
    return Credentials(case['akid'], case['secret'], case['token'] or None)


def set_clock(case):
    FixedClock.fixed = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=int(case['now']))


def sign_get(case):
    url, path = url_of(case)
    set_clock(case)
    request = AWSRequest(method='GET', url=url, data=b'')
    botocore.auth.S3SigV4Auth(credentials(case), 's3', case['region']).add_auth(request)
    case['kind'] = 'get'
    case['want_path'] = path
    case['want_authorization'] = request.headers['Authorization']
    case['want_amz_date'] = request.headers['X-Amz-Date']
    case['want_content_sha256'] = request.headers['X-Amz-Content-SHA256']
    case['want_security_token'] = request.headers.get('X-Amz-Security-Token', '')
    return case


def presign_get(case, rng):
    url, path = url_of(case)
    set_clock(case)
    case['expires'] = str(rng.choice([1, 60, 900, 3600, 86400, 604800, rng.randint(1, 604800)]))
    case['content_type'] = rng.choice(CONTENT_TYPES) if rng.random() < 0.5 else ''
    case['disposition'] = rng.choice(DISPOSITIONS) if rng.random() < 0.5 else ''
    params = {}
    if case['content_type']:
        params['response-content-type'] = case['content_type']
    if case['disposition']:
        params['response-content-disposition'] = case['disposition']
    request = AWSRequest(method='GET', url=url, params=params)
    botocore.auth.S3SigV4QueryAuth(
        credentials(case), 's3', case['region'], expires=int(case['expires'])).add_auth(request)
    case['kind'] = 'presign'
    case['want_path'] = path
    case['want_url'] = request.url
    return case


def emit(case):
    print(' '.join(f'{name}={value.encode("utf-8").hex()}' for name, value in case.items()))


def main():
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    print(f'botocore={botocore.__version__.encode().hex()}')
    for _ in range(count):
        emit(sign_get(random_case(rng, GET_ENDPOINTS)))
    for _ in range(count):
        emit(presign_get(random_case(rng, PRESIGN_ENDPOINTS), rng))


if __name__ == '__main__':
    main()
