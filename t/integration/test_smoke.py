"""The gate serves an allowed public link, refuses a forged one, and leaves other locations alone."""

from gate import FILE, PNG, mint


def test_public_content_link_is_served(stack):
    r = stack.content(101)
    assert r.status == 200, r.header("x-reason")
    assert r.body == PNG


def test_forged_signature_is_refused(stack):
    r = stack.content(101, key="not-the-configured-key-0000000000000000")
    assert (r.status, r.header("x-reason")) == (404, "bad_signature")


def test_other_locations_are_untouched(stack):
    r = stack.request("/whoami")
    assert r.status == 200 and r.header("referrer-policy") is None
