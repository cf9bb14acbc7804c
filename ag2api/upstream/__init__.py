"""Calling the Antigravity backend: its requests and decoded answers (``client``) over libcurl's
multi interface (``curl_multi``; ``transport`` for the occasional other calls, e.g. the OAuth
token endpoint), SSE decoding (``sse``), the v1internal envelope (``envelope``), Google's error
bodies (``google_error``), and obscuring the trigger phrases the backend refuses in a system
instruction (``sensitive_words``)."""
