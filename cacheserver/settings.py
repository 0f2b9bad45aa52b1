"""Every cacheserver setting, declared once: the loader, --help and docs/configuration.md use it."""

from __future__ import annotations

from typing import Final

from cascommon.kinds import ADDRESS, BYTES, INT, LOG_LEVEL, SECONDS, TEXT, TOKEN, URL, URLS, choice
from cascommon.settings import MAX_THREADS, Setting, Settings

SERVERS: Final = ("granian", "gunicorn")

S = Setting
# fmt: off
SETTINGS: Final = Settings("cacheserver", (
    S("host", ("CACHE_HOST",), "--host", TEXT, "Listen address."),
    S("port", ("LISTEN_PORT",), "--port", INT, "Client port.", low=1, high=65535),
    S("peer_port", ("CACHE_PEER_PORT", "PEER_PORT"), "--peer-port", INT,
      "Peer listener port, /_groupcache/ only.", low=1, high=65535),
    S("metrics_port", ("CACHE_METRICS_PORT",), "--metrics-port", INT,
      "Serve /metrics on this port only, not on the client port.", low=1, high=65535,
      unset="unset: /metrics on the client port"),
    S("origin_url", ("CAS_SERVER_URL", "CAS_SERVER_ADDR"), "--origin", ADDRESS,
      "casserver base URL (CAS_SERVER_ADDR: the Go original's host:port)."),
    S("peers", ("CACHE_PEERS",), "--peers", URLS,
      "Every member's peer base URL, this one included; empty: a ring of one."),
    S("self_url", ("CACHE_SELF",), "--self", URL, "This member's peer base URL on the ring.",
      unset="unset: from POD_NAME and CACHE_PEERS_DNS, else POD_IP and the peer port"),
    S("peers_dns", ("CACHE_PEERS_DNS",), "--peers-dns", TEXT,
      "name:port of a headless Service whose A records are the members (re-resolved)."),
    S("pod_ip", ("POD_IP",), None, TEXT, "This pod's IP (Kubernetes downward API)."),
    S("pod_name", ("POD_NAME",), None, TEXT,
      "This StatefulSet pod's name: with CACHE_PEERS_DNS it is `<pod>.<service>`."),
    S("dns_refresh_s", ("CACHE_PEERS_DNS_REFRESH_S",), None, SECONDS,
      "How often CACHE_PEERS_DNS is resolved again.", low=0.001),
    S("cache_bytes", ("CACHE_BYTES",), "--cache-bytes", BYTES,
      "Memory for cached values and keys (main and hot cache).", low=0),
    S("max_item_bytes", ("CACHE_MAX_ITEM_BYTES",), "--max-item-bytes", BYTES,
      "Largest value cached; larger ones stream.", low=0, unset="CACHE_BYTES / 16"),
    S("threads", ("CACHE_THREADS",), "--threads", INT, "Request threads.", low=1, high=MAX_THREADS),
    S("fill_threads", ("CACHE_FILL_THREADS",), "--fill-threads", INT,
      "Threads loading from the origin, and as many from peers.", low=1,
      high=MAX_THREADS),
    S("miss_waiters", ("CACHE_MISS_WAITERS",), "--miss-waiters", INT,
      "Client requests that may wait on fills at once; more get 503.", low=1,
      unset="CACHE_THREADS - 2"),
    S("peer_waiters", ("CACHE_PEER_WAITERS",), "--peer-waiters", INT,
      "Peer requests that may wait on fills at once; more get 503.", low=1),
    S("peer_max_connections", ("CACHE_PEER_MAX_CONNECTIONS",), "--peer-max-connections", INT,
      "Connections the peer listener holds at once; more get 503 and a close.", low=1),
    S("header_timeout_s", ("CACHE_HEADER_TIMEOUT_S",), "--header-timeout-s", SECONDS,
      "Peer port: longest wait for a request's headers.", low=0.001),
    S("idle_timeout_s", ("CACHE_IDLE_TIMEOUT_S",), "--idle-timeout-s", SECONDS,
      "Idle keep-alive connections are closed after this (the client port's granian also "
      "waits this long for headers, at most 60 s).", low=0.001),
    S("max_blob_bytes", ("CACHE_MAX_BLOB_BYTES",), "--max-blob-bytes", BYTES,
      "Largest body taken from the origin or a peer.", low=1),
    S("peer_timeout_s", ("CACHE_PEER_TIMEOUT_S",), "--peer-timeout-s", SECONDS,
      "Connect and first-byte timeout towards a peer.", low=0.001),
    S("origin_timeout_s", ("CACHE_ORIGIN_TIMEOUT_S",), "--origin-timeout-s", SECONDS,
      "Read timeout towards the origin.", low=0.001),
    S("fetch_total_timeout_s", ("CACHE_FETCH_TOTAL_TIMEOUT_S",), "--fetch-total-timeout-s",
      SECONDS, "Longest whole origin or peer fetch, body included.", low=0.001),
    S("peer_max_backoff_s", ("CACHE_PEER_BACKOFF_S",), "--peer-backoff-s", SECONDS,
      "Longest backoff from a failing peer.", low=0),
    S("negative_ttl_s", ("CACHE_NEGATIVE_TTL_S",), "--negative-ttl-s", SECONDS,
      "How long an origin 404 is remembered.", low=0.001),
    S("log_level", ("LOG_LEVEL",), "--log-level", LOG_LEVEL, "Log level."),
    S("server", ("CACHE_SERVER",), "--server", choice(*SERVERS), "WSGI server."),
    S("peer_token", ("CACHE_PEER_TOKEN",), None, TOKEN,
      "Shared secret every member sends to the others' peer port.", secret=True,
      opens="peer port"),
    S("origin_token", ("CACHE_ORIGIN_TOKEN",), None, TOKEN,
      "Bearer token sent on every origin fetch (casserver's read token).", secret=True),
))
# fmt: on
