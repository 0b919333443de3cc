"""A small typed client of the hashguard gRPC service.

Operators match hashes and upload media; investigators follow their unit's reports from a
cursor. The stubs underneath are generated from the service's proto by ``generate.sh``.

    from hashguard_client import Client
    with Client("127.0.0.1:50051", token=os.environ["HASHGUARD_TOKEN"]) as c:
        verdicts = c.match_hashes([("md5", "900150983cd24fb0d6963f7d28e17f72")], reference="batch-1")
        verdict = c.upload(open("photo.jpg", "rb").read(), reference="upload-7")
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence, Tuple

import grpc

# The generated modules import each other as `hashguard.v1...`: their root goes on the path.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_gen"))
from hashguard.v1 import hashguard_pb2 as pb  # noqa: E402
from hashguard.v1 import hashguard_pb2_grpc as rpc  # noqa: E402

__all__ = ["Client", "Verdict", "Upload", "Report", "pb"]

#: The kinds a hash may have, by the names the CLI and the lists use.
KINDS = {
    "pdq": pb.HASH_KIND_PDQ,
    "phash": pb.HASH_KIND_PHASH,
    "dhash": pb.HASH_KIND_DHASH,
    "md5": pb.HASH_KIND_MD5,
    "sha1": pb.HASH_KIND_SHA1,
    "sha256": pb.HASH_KIND_SHA256,
}

#: Upload chunk size, under the server's default 4 MiB message limit.
CHUNK = 1 << 20


@dataclass
class Verdict:
    """Whether a submission matched, under which categories, and the report filed for it."""

    matched: bool
    categories: list[str] = field(default_factory=list)
    report_id: str = ""


@dataclass
class Upload:
    """The verdict on an upload and what the server computed of it."""

    verdict: Verdict
    kind: str
    error: str = ""
    fault: str = ""
    pdq: str = ""


@dataclass
class Report:
    """One report of the investigator's unit."""

    id: str
    cursor: int
    tenant_reference: str
    lists: list[str]


def _verdict(v: pb.Verdict) -> Verdict:
    return Verdict(matched=v.matched, categories=list(v.categories), report_id=v.report_id)


class Client:
    """A connection to a hashguard server: plaintext on loopback, else TLS with ``ca`` (PEM)."""

    def __init__(self, target: str, token: str, ca: Optional[bytes] = None, timeout: float = 30.0):
        if ca is None:
            self._channel = grpc.insecure_channel(target)
        else:
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(ca))
        self._meta = (("authorization", f"Bearer {token}"),)
        self._timeout = timeout
        self._matcher = rpc.MatcherStub(self._channel)
        self._reports = rpc.ReportsStub(self._channel)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection."""
        self._channel.close()

    def match_hashes(self, hashes: Sequence[Tuple[str, str]], reference: str = "") -> list[Verdict]:
        """Verdicts for ``(kind, hex)`` pairs, in order (up to 1,000 a call)."""
        req = pb.MatchHashesRequest(
            hashes=[pb.TypedHash(kind=KINDS[k], hex=h) for k, h in hashes],
            tenant_reference=reference,
        )
        resp = self._matcher.MatchHashes(req, metadata=self._meta, timeout=self._timeout)
        return [_verdict(v) for v in resp.verdicts]

    def upload(self, data: bytes, reference: str = "") -> Upload:
        """Uploads media for matching; the server keeps only its hashes."""

        def chunks() -> Iterator[pb.MediaChunk]:
            yield pb.MediaChunk(
                metadata=pb.MediaMetadata(tenant_reference=reference, declared_size=len(data))
            )
            for i in range(0, len(data), CHUNK):
                yield pb.MediaChunk(data=data[i : i + CHUNK])

        r = self._matcher.MatchMedia(chunks(), metadata=self._meta, timeout=self._timeout)
        f = r.fingerprint
        return Upload(_verdict(r.verdict), kind=f.kind, error=f.error, fault=f.fault, pdq=f.pdq)

    def follow_reports(self, cursor: int = 0, timeout: Optional[float] = None) -> Iterator[Report]:
        """The unit's reports after ``cursor``, then new ones as they are filed (investigators).
        Resume after a disconnection from the last cursor seen: none is skipped."""
        stream = self._reports.FollowReports(
            pb.FollowReportsRequest(cursor=cursor), metadata=self._meta, timeout=timeout
        )
        for r in stream:
            yield Report(
                id=r.id,
                cursor=r.cursor,
                tenant_reference=r.tenant_reference,
                lists=[m.list for m in r.matches],
            )
