"""Django's own BaseCacheTests against s3cache.django.S3Cache, set up as Django's
FileBasedCacheTests is: every alias (default, prefix, v2, custom_key, custom_key2, cull,
zero_cull) on one LOCATION. run.py copies this module into Django's tests/cache/ and sets the
environment it reads."""

import os

from django.test import TestCase, override_settings

from .tests import BaseCacheTests, caches_setting_for_tests


@override_settings(
    CACHES=caches_setting_for_tests(
        BACKEND="s3cache.django.S3Cache", LOCATION=os.environ["S3CACHE_SUITE_LOCATION"]
    ),
    # Connection settings through the Django settings django-s3-cache read (OPTIONS would
    # replace the cull aliases' own OPTIONS).
    AWS_STORAGE_BUCKET_NAME=os.environ["S3CACHE_SUITE_BUCKET"],
    AWS_S3_ENDPOINT_URL=os.environ["S3CACHE_SUITE_ENDPOINT"],
    AWS_ACCESS_KEY_ID=os.environ["S3CACHE_SUITE_ACCESS_KEY_ID"],
    AWS_SECRET_ACCESS_KEY=os.environ["S3CACHE_SUITE_SECRET_ACCESS_KEY"],
    AWS_AUTO_CREATE_BUCKET=True,
)
class S3CacheTests(BaseCacheTests, TestCase):
    """Nothing added: the base class is the contract."""
