"""An MLLP listener (HL7 v2 over TCP, the Minimal Lower Layer Protocol).

Frames are ``<VT> message <FS><CR>`` (0x0B … 0x1C 0x0D). Each message is parsed and handed to
the handler, and answered on the same connection with an ACK (``AA``) or a NAK (``AE``/``AR``
with the reason) before the next frame is read, as senders expect. A frame over
``max_bytes`` or bytes outside a frame get a NAK and the connection is closed: a peer that
does not speak MLLP is not kept waiting. A message that is well-formed but fails its mapping
is accepted (``AA``) because the gateway has stored it as a dead letter: answering ``AE``
would make the lab system resend it forever and block its queue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from clients.gateway.errors import GatewayError
from clients.gateway.hl7.message import Hl7RejectError, ack, message_type, parse

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"
MAX_FRAME = 1024 * 1024
log = logging.getLogger("medledger.gateway.mllp")

Handler = Callable[[dict[str, Any], str], None]


async def _refuse(writer: asyncio.StreamWriter, why: str) -> None:
    """Answer ``AR`` to something that is not a usable MLLP frame (the caller then closes)."""
    writer.write(frame(ack(None, "AR", error=why, hl7_error="100")))
    await writer.drain()


def frame(text: str) -> bytes:
    return VT + text.encode("utf-8") + FS + CR


class MllpServer:
    """Serves one flow's MLLP source on a thread of its own (an asyncio loop)."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        message_types: list[str] | None = None,
        max_bytes: int = MAX_FRAME,
    ) -> None:
        self.handler = handler
        self.host, self.port = host, port
        self.message_types = set(message_types or [])
        self.max_bytes = max_bytes
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()  # one message at a time through the flow

    def start(self) -> int:
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._client, self.host, self.port, limit=self.max_bytes + 16)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="gateway-mllp", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise GatewayError(f"MLLP listener on {self.host}:{self.port} did not start")
        return self.port

    def answer(self, text: str) -> str:
        """The ACK/NAK for one message (runs the handler)."""
        try:
            _msg, data = parse(text)
        except Hl7RejectError as exc:
            return ack(None, exc.code, error=exc.text, hl7_error=exc.hl7_error)
        kind = message_type(data)
        if self.message_types and kind not in self.message_types:
            return ack(data, "AR", error=f"unsupported message type {kind}", hl7_error="200")
        try:
            with self.lock:
                self.handler(data, kind)
        except Hl7RejectError as exc:
            return ack(data, exc.code, error=exc.text, hl7_error=exc.hl7_error)
        except GatewayError as exc:
            return ack(data, "AE", error=str(exc), hl7_error="207")
        return ack(data, "AA")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                start = await reader.read(1)
                if not start:
                    break
                if start != VT:
                    await _refuse(writer, "bytes outside an MLLP frame")
                    break
                try:
                    body = await reader.readuntil(FS + CR)
                except asyncio.LimitOverrunError:
                    await _refuse(writer, f"frame over {self.max_bytes} bytes")
                    break
                except asyncio.IncompleteReadError:
                    break
                payload = body[: -len(FS + CR)]
                if len(payload) > self.max_bytes:
                    await _refuse(writer, f"frame over {self.max_bytes} bytes")
                    break
                try:
                    text = payload.decode("utf-8")
                except UnicodeDecodeError:
                    text = payload.decode("gb18030", errors="replace")  # common in Chinese LIS
                # handled on the loop's thread: one message at a time per listener keeps the
                # sender's order, and the flow is serialised by ``lock`` anyway
                answer = self.answer(text)
                writer.write(frame(answer))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        """Close the listener and every connection, then end the loop's thread."""

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread is None or not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


def send(host: str, port: int, messages: list[str], timeout: float = 10.0) -> list[str]:
    """A minimal MLLP client (tests, the benchmark, ``gateway send-hl7``): the answers."""
    import socket

    answers = []
    with socket.create_connection((host, port), timeout=timeout) as sock:
        buffer = b""
        for text in messages:
            sock.sendall(frame(text))
            while FS + CR not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise GatewayError("the MLLP peer closed the connection")
                buffer += chunk
            body, _, buffer = buffer.partition(FS + CR)
            answers.append(body.lstrip(VT).decode("utf-8"))
    return answers
