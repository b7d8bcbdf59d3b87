"""The live console: a web page that lists every handshake as it happens (from the client
service's reports and the server's own view, so openssl s_client and curl show up too) and
the lab's other events (issuances, revocations, fault changes), updated by server-sent
events. `state` holds what it shows, `sources` follows the services, `app` serves it."""
