"""``stowage demo``: a guided round trip against a running server.

Provisions an environment with every setting and one artifact of every kind,
gives it runtime state (control numbers, an AS2 record, a hybrid connection),
backs it up, restores it at a higher edition under a new name, and compares
the two side by side. Both environments are kept so they can be looked at.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from stowage.client import KIND_NAMES, Client, Operation
from stowage.v1 import common_pb2
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import operations_pb2 as ops_pb

from .environments import state_text
from .operations import warning_text
from .output import (
    edition_text,
    human_bytes,
    print_json,
    print_table,
    secret_text,
    short_id,
)
from .progress import ProgressView, watch
from .settings import SETTINGS

REGION = "west-europe"
ASSEMBLY_BYTES = 8 << 20
ASSEMBLY_SEED = 20240917  # fixed: the same bytes every run, generated quickly
AGREEMENT = "Contoso-Fabrikam-X12"
HYBRID_CONNECTION = "onprem-erp"
STEPS = 6


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "demo",
        parents=common,
        help="a guided backup and restore round trip",
        description="Provision a demo environment with every setting and every artifact kind, "
        "back it up, restore it under a new name at a higher edition, and compare the two. "
        "Both environments are kept.",
    )
    p.add_argument("--name", default="demo", metavar="PREFIX", help="environment name prefix")
    p.add_argument(
        "--keep", action="store_true", help="keep both environments (the default; see --cleanup)"
    )
    p.add_argument("--cleanup", action="store_true", help="delete both environments at the end")
    p.set_defaults(handler=run)


@dataclass
class Demo:
    client: Client
    quiet: bool  # --json: no narration, one JSON object at the end
    source: str
    restored: str
    secrets_set: dict[str, bytes] = field(default_factory=dict)
    step_no: int = 0

    def step(self, text: str) -> None:
        self.step_no += 1
        if not self.quiet:
            print(f"[{self.step_no}/{STEPS}] {text}", flush=True)

    def note(self, text: str) -> None:
        if not self.quiet:
            print(f"      {text}", flush=True)

    def follow(self, handle: Operation) -> ops_pb.Operation:
        if self.quiet:
            return handle.result()
        kind = handle.operation.kind
        return watch(handle, ProgressView(show_warnings=kind != ops_pb.Operation.KIND_RESTORE))


def run(args: argparse.Namespace, client: Client) -> int:
    source = f"{args.name}-{secrets.token_hex(2)}"
    demo = Demo(client, args.json, source, f"{source}-restored")

    settings = demo_settings(source, demo.secrets_set)
    demo.step(f"provisioning environments/{source}: basic, {REGION}, every setting set")
    client.provision(source, "basic", region=REGION, settings=settings)

    contents = demo_artifacts(source)
    total = sum(len(c) for _, _, c, _ in contents)
    demo.step(f"putting {len(contents)} artifacts, one of each kind ({human_bytes(total)})")
    for kind, artifact_id, content, metadata in contents:
        client.put_artifact(source, kind, artifact_id, content, metadata=metadata)

    demo.step(
        f"adding runtime state: control numbers, an AS2 record, hybrid connection {HYBRID_CONNECTION}"
    )
    for sets in (1, 2, 4):
        client.issue_control_numbers(source, AGREEMENT, transaction_sets=sets)
    payload = b"ISA*00*          *00*          *ZZ*FABRIKAM       *ZZ*CONTOSO        ~"
    mic = base64.b64encode(hashlib.sha256(payload).digest()).decode() + ", sha-256"
    client.record_as2_message(source, f"<{uuid.uuid4()}@{source}.example.com>", mic)
    client.create_hybrid_connection(source, HYBRID_CONNECTION, "erp.contoso.local:8443")

    demo.step(f"backing up environments/{source}")
    backup = demo.follow(client.create_backup(source)).backup
    demo.note(
        f"backup {backup.name}: {backup.artifact_count} artifacts, "
        f"{human_bytes(backup.size_bytes)}, {human_bytes(backup.added_bytes)} added to the repository"
    )

    folder = f"/ftp/{demo.restored}/inbound"
    demo.step(f"restoring to environments/{demo.restored} at standard, agreement moved to {folder}")
    result = demo.follow(
        client.restore(
            backup.name, demo.restored, edition="standard", source_ftp_folders={AGREEMENT: folder}
        )
    ).restore

    demo.step("comparing the source with the restored environment")
    rows = compare(demo)
    if args.cleanup:
        client.delete_environment(demo.restored)
        client.delete_environment(source)

    if args.json:
        print_json(
            {
                "source": f"environments/{source}",
                "restored": result.environment,
                "backup": backup.name,
                "comparison": [
                    dict(zip(("item", "source", "restored", "match"), r, strict=True)) for r in rows
                ],
                "warnings": [json.loads(_json(w)) for w in result.warnings],
                "deleted": bool(args.cleanup),
            }
        )
        return 0
    print()
    print_table(["ITEM", "SOURCE", "RESTORED", "MATCH"], rows)
    print()
    print("what the restore says to do:")
    for w in result.warnings:
        print(f"  {warning_text(w)}")
    print()
    if args.cleanup:
        print(
            f"deleted environments/{source} and environments/{demo.restored}; "
            f"the backup {backup.name} stays"
        )
    else:
        print(f"kept environments/{source} (ACTIVE) and environments/{demo.restored} (SUSPENDED).")
        print(f"  look:     stowage env get {demo.restored}; stowage artifact list {demo.restored}")
        print(f"  clean up: stowage env delete {demo.restored}; stowage env delete {source}")
    mismatches = [r for r in rows if r[3] == "NO"]
    return 1 if mismatches else 0


def _json(message: Any) -> str:
    from google.protobuf import json_format

    return json_format.MessageToJson(message)


# -- what the demo environment holds -----------------------------------------


def demo_settings(env: str, remember: dict[str, bytes]) -> env_pb.EnvironmentSettings:
    """Every setting, with fresh secrets; ``remember`` receives the secret values
    so the restored copy can be checked against them (never printed)."""
    account_key = base64.b64encode(secrets.token_bytes(48)).decode()
    values = {
        "access_control_key": secrets.token_urlsafe(32).encode(),
        "tracking_database_connection_string": (
            f"Server=tcp:{env}-sql.example.net,1433;Database=tracking;User ID=stowage;"
            f"Password={secrets.token_urlsafe(18)};Encrypt=True"
        ).encode(),
        "archive_storage_connection_string": (
            f"DefaultEndpointsProtocol=https;AccountName={env.replace('-', '')}archive;"
            f"AccountKey={account_key};EndpointSuffix=core.windows.net"
        ).encode(),
        "monitoring_storage_connection_string": (
            f"DefaultEndpointsProtocol=https;AccountName={env.replace('-', '')}monitor;"
            f"AccountKey={account_key[::-1]};EndpointSuffix=core.windows.net"
        ).encode(),
        # Not a real PFX: DER-looking random bytes are enough for a round trip.
        "ssl_certificate": b"\x30\x82\x0a\x2c" + secrets.token_bytes(2600),
        "ssl_certificate_password": secrets.token_urlsafe(16).encode(),
    }
    remember.update(values)
    return env_pb.EnvironmentSettings(
        scale_units=2,
        product_version="2.3.104",
        access_control_namespace=f"{env}-acs",
        **{name: common_pb2.Secret(value=value) for name, value in values.items()},
    )


def demo_artifacts(env: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(kind, id, content, metadata) for one artifact of every kind."""
    assembly = b"MZ\x90\x00" + random.Random(ASSEMBLY_SEED).randbytes(ASSEMBLY_BYTES - 4)
    partner = """<?xml version="1.0" encoding="utf-8"?>
<Partner name="Fabrikam">
  <BusinessProfile name="Fabrikam-Purchasing">
    <Identity qualifier="ZZ" value="FABRIKAM"/>
    <Identity qualifier="AS2Identity" value="fabrikam-as2"/>
  </BusinessProfile>
  <Contact name="EDI desk" email="edi@fabrikam.example.com"/>
</Partner>
"""
    agreement = f"""<?xml version="1.0" encoding="utf-8"?>
<Agreement name="{AGREEMENT}" protocol="X12">
  <HostPartner name="Contoso" identity="ZZ:CONTOSO"/>
  <GuestPartner name="Fabrikam" identity="ZZ:FABRIKAM"/>
  <Receive transport="FTP" folder="/ftp/{env}/inbound" pollInterval="PT1M"/>
  <Envelope isa11="U" isa12="00401" gs08="004010" acknowledgement="997"/>
</Agreement>
"""
    bridge = """<?xml version="1.0" encoding="utf-8"?>
<Bridge name="PurchaseOrderIn" type="XmlReceive">
  <Stage name="Validate" schema="PurchaseOrder.xsd"/>
  <Stage name="Transform" map="X12_850_to_PurchaseOrder"/>
  <Route to="pipeline:order-intake"/>
</Bridge>
"""
    pem = base64.encodebytes(random.Random(ASSEMBLY_SEED + 1).randbytes(900)).decode()
    certificate = f"-----BEGIN CERTIFICATE-----\n{pem}-----END CERTIFICATE-----\n"
    transform = """<?xml version="1.0" encoding="utf-8"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template match="/X12_00401_850">
    <PurchaseOrder number="{BEG/BEG03}" date="{BEG/BEG05}">
      <xsl:for-each select="PO1Loop1/PO1">
        <Line sku="{PO107}" quantity="{PO102}" price="{PO104}"/>
      </xsl:for-each>
    </PurchaseOrder>
  </xsl:template>
</xsl:stylesheet>
"""
    pipeline = (
        json.dumps(
            {
                "name": "order-intake",
                "steps": [
                    {"decode": "x12"},
                    {"transform": "X12_850_to_PurchaseOrder"},
                    {"deliver": {"url": "https://erp.contoso.example.com/orders", "retries": 3}},
                ],
            },
            indent=2,
        )
        + "\n"
    )
    template = (
        json.dumps(
            {
                "name": "invoice-810",
                "engine": "liquid",
                "body": "ST*810*{{ control_number }}~BIG*{{ invoice.date }}*{{ invoice.number }}~",
            },
            indent=2,
        )
        + "\n"
    )
    mapping = (
        json.dumps(
            {
                "mappings": [
                    {"st01": "850", "gs01": "PO"},
                    {"st01": "810", "gs01": "IN"},
                    {"st01": "997", "gs01": "FA"},
                ]
            },
            indent=2,
        )
        + "\n"
    )
    return [
        ("partner", "Fabrikam", partner.encode(), {}),
        (
            "agreement",
            AGREEMENT,
            agreement.encode(),
            {
                "source-ftp-folder": f"/ftp/{env}/inbound",
                "protocol": "x12",
                "host-partner": "Contoso",
                "guest-partner": "Fabrikam",
            },
        ),
        ("assembly", "Contoso.Maps.dll", assembly, {}),
        ("bridge", "PurchaseOrderIn", bridge.encode(), {}),
        ("certificate", "fabrikam-signing.cer", certificate.encode(), {}),
        ("transform", "X12_850_to_PurchaseOrder.xslt", transform.encode(), {}),
        ("pipeline", "order-intake.json", pipeline.encode(), {}),
        ("template", "invoice-810.liquid.json", template.encode(), {}),
        ("x12-mapping", "st01-gs01.json", mapping.encode(), {}),
    ]


# -- the comparison -----------------------------------------------------------


def compare(demo: Demo) -> list[tuple[str, str, str, str]]:
    """ITEM, SOURCE, RESTORED, MATCH rows. MATCH is "yes", "NO", or "expected: why"
    for differences the restore makes on purpose."""
    c = demo.client
    src = c.get_environment(demo.source)
    # The full view only to check the secret values against those provisioned;
    # what is shown is the masked form.
    dst = c.get_environment(demo.restored, full=True)
    rows: list[tuple[str, str, str, str]] = []

    def row(item: str, a: str, b: str, match: bool, expected: str = "") -> None:
        rows.append((item, a, b, "yes" if match else f"expected: {expected}" if expected else "NO"))

    row(
        "state",
        state_text(src.state),
        state_text(dst.state),
        src.state == dst.state,
        "a restore starts SUSPENDED",
    )
    row(
        "edition",
        edition_text(src.edition),
        edition_text(dst.edition),
        src.edition == dst.edition,
        "restored at standard",
    )
    row("region", src.region, dst.region, src.region == dst.region)
    for s in SETTINGS:
        a, b = getattr(src.settings, s.field), getattr(dst.settings, s.field)
        if not s.secret:
            row(s.label, str(a), str(b), a == b)
            continue
        same = a.fingerprint == b.fingerprint and b.value == demo.secrets_set.get(s.field)
        row(s.label, secret_text(a), secret_text(b), same)

    before = {(a.kind, short_id(a.name)): a for a in c.list_artifacts(demo.source)}
    after = {(a.kind, short_id(a.name)): a for a in c.list_artifacts(demo.restored)}
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        label = f"{KIND_NAMES.get(key[0], key[0])} {key[1]}"
        row(
            label,
            _artifact_text(a),
            _artifact_text(b),
            a is not None
            and b is not None
            and (a.size_bytes, a.sha256) == (b.size_bytes, b.sha256),
        )
        folder_a = a.metadata.get("source-ftp-folder", "") if a else ""
        folder_b = b.metadata.get("source-ftp-folder", "") if b else ""
        if folder_a or folder_b:
            row(
                "  source-ftp-folder",
                folder_a or "-",
                folder_b or "-",
                folder_a == folder_b,
                "--ftp-folder override",
            )

    numbers_a = {short_id(n.agreement): n for n in c.list_control_numbers(demo.source)}
    numbers_b = {short_id(n.agreement): n for n in c.list_control_numbers(demo.restored)}
    for agreement in sorted(numbers_a.keys() | numbers_b.keys()):
        a_text, b_text = (
            _numbers_text(numbers_a.get(agreement)),
            _numbers_text(numbers_b.get(agreement)),
        )
        row(f"control numbers {agreement}", a_text, b_text, a_text == b_text)
    return rows


def _artifact_text(a: env_pb.Artifact | None) -> str:
    return f"{human_bytes(a.size_bytes)} {a.sha256[:12]}" if a is not None else "-"


def _numbers_text(n: env_pb.ControlNumbers | None) -> str:
    # interchange / group / transaction set, as the EDI envelopes number them
    return f"ISA {n.interchange} GS {n.group} ST {n.transaction_set}" if n is not None else "-"
