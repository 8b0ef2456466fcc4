"""Errors of the stream manager, each carrying the wire status code the client maps to an exception.

Status codes are the ``ResponseStatusCode`` values of ``greengrasssdk.stream_manager`` 1.6.1:

=====  =======================  ===========================================
code   name                     raised here for
=====  =======================  ===========================================
1      UnknownFailure           unexpected server-side failures
3      InvalidRequest           bad definition / request, stream exists, stream full (RejectNewData)
4      RequestPayloadTooLarge   a message larger than the stream's ``maxSize``, or a frame over the cap
5      ResourceNotFound         no stream of that name
7      ResponsePayloadTooLarge  minMessageCount messages do not fit the server's response size cap
13     NotEnoughMessages        fewer than ``minMessageCount`` messages (after the read timeout)
14     MessageStoreReadError    a segment file that cannot be read back
15     OutOfMemoryError         MemoryError while serving the request
16     UpdateFailed             the new definition could not be written to disk
17     UpdateNotAllowed         an update that changes ``persistence``
18     UnknownOperation         unknown op code (sent with op 17)
=====  =======================  ===========================================
"""

from __future__ import annotations


class StreamManagerError(Exception):
    """Base class. ``status`` is the wire ``ResponseStatusCode`` value sent to the client."""

    status = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownFailure(StreamManagerError):
    status = 1


class InvalidRequest(StreamManagerError):
    status = 3


class InvalidDefinition(InvalidRequest):
    """A MessageStreamDefinition (or export config) that breaks the client's own limits."""


class StreamAlreadyExists(InvalidRequest):
    pass


class StreamFull(InvalidRequest):
    """Append to a RejectNewData stream that has reached ``maxSize``.

    The client has no dedicated status for this; we answer InvalidRequest (3), so the Lambda sees
    ``InvalidRequestException`` with a message naming the stream and its limit.
    """


class PayloadTooLarge(StreamManagerError):
    status = 4


class StreamNotFound(StreamManagerError):
    status = 5


class ResponsePayloadTooLarge(StreamManagerError):
    status = 7


class NotEnoughMessages(StreamManagerError):
    status = 13


class MessageStoreReadError(StreamManagerError):
    status = 14


class OutOfMemory(StreamManagerError):
    status = 15


class UpdateFailed(StreamManagerError):
    status = 16


class UpdateNotAllowed(InvalidRequest):
    status = 17


class UnknownOperation(StreamManagerError):
    status = 18


class ProtocolError(Exception):
    """The peer broke the framing or handshake; the server closes that one connection."""


class ExportError(Exception):
    """An export attempt failed; ``retryable`` says whether to back off and try the same batch again."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
