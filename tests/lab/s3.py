#!/usr/bin/env python3
"""ceph-warden test lab: the smallest S3 client the tests need (Python standard library only):
create a public-read bucket and put a public-read object of N bytes, signed with AWS SigV4.

Usage: s3.py ENDPOINT ACCESS_KEY SECRET_KEY BUCKET KEY SIZE [BUCKET_ACL]
       (ENDPOINT like http://127.0.0.1:18080; the object's bytes are b"x" * SIZE; BUCKET_ACL
       public-read by default, public-read-write lets anonymous clients PUT into it)
Prints the HTTP status of each request; exits 1 when one is not 2xx.
"""
import datetime
import hashlib
import hmac
import http.client
import sys
import urllib.parse


def sign(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def request(endpoint, access, secret, method, path, body=b"", acl="public-read"):
    url = urllib.parse.urlparse(endpoint)
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = now.strftime("%Y%m%d")
    region = "us-east-1"
    payload = hashlib.sha256(body).hexdigest()
    headers = {
        "host": url.netloc,
        "x-amz-acl": acl,
        "x-amz-content-sha256": payload,
        "x-amz-date": amz_date,
    }
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [method, path, "", "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)), signed, payload]
    )
    scope = f"{date}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = sign(sign(sign(sign(("AWS4" + secret).encode(), date), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    text = response.read()
    print(f"{method} {path}: {response.status}")
    if response.status // 100 != 2:
        print(text.decode(errors="replace"), file=sys.stderr)
        sys.exit(1)


def main():
    endpoint, access, secret, bucket, key, size = sys.argv[1:7]
    bucket_acl = sys.argv[7] if len(sys.argv) > 7 else "public-read"
    request(endpoint, access, secret, "PUT", f"/{bucket}", acl=bucket_acl)
    request(endpoint, access, secret, "PUT", f"/{bucket}/{key}", b"x" * int(size))


if __name__ == "__main__":
    main()
