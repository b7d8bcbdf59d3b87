"""Sequence diagrams of a handshake report: the model (`sequence`), Mermaid text
(`mermaid`), an SVG drawing made here without any JavaScript library (`svg`), and one
self-contained HTML page around it (`page`)."""
