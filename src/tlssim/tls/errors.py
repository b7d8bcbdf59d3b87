"""One error hierarchy: every TLS failure carries the alert it maps to."""

from __future__ import annotations

from typing import ClassVar

from tlssim.tls.constants import AlertDescription


class TLSError(Exception):
    """A fatal TLS protocol failure; ``alert`` is what we send (or what the peer sent).

    Errors we detect are local (we send the alert); ``PeerAlert`` is the peer's fatal alert.
    """

    default_alert: ClassVar[AlertDescription] = AlertDescription.internal_error
    #: True when the peer sent the alert, False when we detected the error and sent it.
    sent_by_peer: ClassVar[bool] = False

    def __init__(self, message: str = "", alert: AlertDescription | None = None) -> None:
        self.alert: AlertDescription = self.default_alert if alert is None else alert
        super().__init__(message or self.alert.name)

    @property
    def alert_name(self) -> str:
        """The alert as RFC 8446 names it."""
        return self.alert.name


class DecodeError(TLSError):
    default_alert = AlertDescription.decode_error


class IllegalParameter(TLSError):
    default_alert = AlertDescription.illegal_parameter


class UnexpectedMessage(TLSError):
    default_alert = AlertDescription.unexpected_message


class HandshakeFailure(TLSError):
    default_alert = AlertDescription.handshake_failure


class BadRecordMac(TLSError):
    default_alert = AlertDescription.bad_record_mac


class RecordOverflow(TLSError):
    default_alert = AlertDescription.record_overflow


class DecryptError(TLSError):
    default_alert = AlertDescription.decrypt_error


class ProtocolVersionError(TLSError):
    default_alert = AlertDescription.protocol_version


class MissingExtension(TLSError):
    default_alert = AlertDescription.missing_extension


class UnsupportedExtension(TLSError):
    default_alert = AlertDescription.unsupported_extension


class BadCertificate(TLSError):
    default_alert = AlertDescription.bad_certificate


class UnrecognizedName(TLSError):
    default_alert = AlertDescription.unrecognized_name


class Truncated(TLSError):
    """The peer closed the transport after the handshake without close_notify (RFC 8446
    6.1): what it sent may have been cut short. We close our side with close_notify."""

    default_alert = AlertDescription.close_notify


class InternalError(TLSError):
    default_alert = AlertDescription.internal_error


class PeerAlert(TLSError):
    """The peer ended the connection with a fatal alert (``alert`` is None if unknown)."""

    sent_by_peer = True

    def __init__(self, alert: AlertDescription | None, code: int) -> None:
        super().__init__(f"peer sent fatal alert {alert.name if alert else code}", alert)
        #: The description byte as received, also when it is not a known alert.
        self.code = code

    @property
    def alert_name(self) -> str:
        """The alert as RFC 8446 names it, or its number when it names none."""
        return (
            self.alert.name if self.code in AlertDescription._value2member_map_ else str(self.code)
        )


class LocalProtocolError(RuntimeError):
    """The caller used a connection out of turn: sent data before the handshake finished,
    decided on a certificate nobody is waiting on, started twice. Not a TLS failure: no
    alert is sent and the connection is as it was. (A RuntimeError, as these were before.)
    """
