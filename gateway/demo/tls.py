"""The demo's TLS fingerprints: EXAMPLES invented in the JA4 format, not measurements of real clients.

The demo config (gateway/demo/config.yaml) lists the same fingerprints, under
its app's ``tls`` and ``apps.tls_platforms``; the simulator presents them and
the tests read them from here (tests/test_fingerprint_tls.py checks both agree).
"""

from __future__ import annotations

# Stack name -> an example JA4 fingerprint.
DEMO_TLS: dict[str, str] = {
    "android_app": "t13d1715h2_5b57614c22b0_93c746dc12af",
    "ios_app": "t13d2014h2_a09f3c656075_e42f34c56612",
    "chrome_desktop": "t13d1516h2_8daaf6152771_02713d6af862",
    "safari": "t13d2013h2_a09f3c656075_14788d8d241b",
    "firefox": "t13d1717h2_5b57614c22b0_3cbfd9057e0d",
    "python_requests": "t13d1812h1_85036bcba153_375ca2c5e164",
    "curl": "t13d3112h1_e8f1e7e78f70_b26ce05bbdd6",
    "go": "t13d1311h2_f57a46bbacb6_ab7e3b40a677",
    "okhttp": "t13d1412h2_0c8c8a8e4b25_f6bac7c1c5b8",  # okhttp on a desktop JVM, outside the app
}
# Stack name -> the platform the demo config lists it under.
DEMO_TLS_PLATFORM: dict[str, str] = {
    "android_app": "android",
    "ios_app": "ios",
    "chrome_desktop": "browser",
    "safari": "browser",
    "firefox": "browser",
    "python_requests": "library",
    "curl": "library",
    "go": "library",
    "okhttp": "library",
}
