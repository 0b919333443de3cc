"""The client against a started server (run by ../run-tests.sh, which starts it and sets the
HASHGUARD_TEST_* variables)."""

import os
import unittest

import grpc

from hashguard_client import Client

ADDR = os.environ["HASHGUARD_TEST_ADDR"]
OPERATOR = os.environ["HASHGUARD_TEST_OPERATOR"]
INVESTIGATOR = os.environ["HASHGUARD_TEST_INVESTIGATOR"]
LISTED_MD5 = os.environ["HASHGUARD_TEST_MD5"]
SCENE = os.environ["HASHGUARD_TEST_SCENE"]


class ClientTest(unittest.TestCase):
    def test_match_hashes_upload_and_follow(self):
        with Client(ADDR, OPERATOR) as op:
            v = op.match_hashes([("md5", LISTED_MD5), ("md5", "ab" * 16)], reference="py-1")
            self.assertEqual([x.matched for x in v], [True, False])
            self.assertTrue(v[0].report_id)
            with open(SCENE, "rb") as f:
                up = op.upload(f.read(), reference="py-2")
            self.assertEqual(up.kind, "image")
            self.assertTrue(up.verdict.matched, up)
            self.assertEqual(len(up.pdq), 64)
        with Client(ADDR, INVESTIGATOR) as inv:
            reports = []
            try:
                for r in inv.follow_reports(cursor=0, timeout=3.0):
                    reports.append(r)
                    if len(reports) == 2:
                        break
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
            refs = {r.tenant_reference for r in reports}
            self.assertEqual(refs, {"py-1", "py-2"}, reports)
            # Resuming after the first cursor gives the second only.
            again = next(iter(inv.follow_reports(cursor=reports[0].cursor, timeout=3.0)))
            self.assertEqual(again.cursor, reports[1].cursor)

    def test_a_bad_token_is_unauthenticated(self):
        with Client(ADDR, "wrong") as c:
            with self.assertRaises(grpc.RpcError) as e:
                c.match_hashes([("md5", LISTED_MD5)])
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAUTHENTICATED)

    def test_reflection_v1alpha_lists_the_services(self):
        from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

        with grpc.insecure_channel(ADDR) as ch:
            stub = reflection_pb2_grpc.ServerReflectionStub(ch)
            req = reflection_pb2.ServerReflectionRequest(list_services="")
            resp = next(iter(stub.ServerReflectionInfo(iter([req]), timeout=5)))
            names = {s.name for s in resp.list_services_response.service}
            self.assertIn("hashguard.v1.Matcher", names)


if __name__ == "__main__":
    unittest.main()
