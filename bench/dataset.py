"""The reference dataset of issue 7: an environment's artifacts, a folder per
kind and a file per artifact, as `stowage artifact import` reads them.

    .venv/bin/python -m bench.dataset DIR [--scale 1] [--seed 7] [--check]

At scale 1: 20,000 text artifacts of 1-8 KiB (about 92 MB) over the text kinds,
EDI- and XML-like, so that zstd level 3 compresses each file about 4x; and 40
assemblies of 2-15 MB (about 324 MiB), each about a third random code, a third
tables that compress, and a third segments shared between assemblies: runs of
one to four consecutive segments of 32-512 KiB from a common pool, placed at
arbitrary offsets. A run seldom holds a whole 1 MiB content-defined chunk (as
restic cuts), while most of it falls in whole ~64 KiB chunks. Counts (and the
pool) grow with ``scale``; every byte follows from the seed. ``change``
rewrites 1% of the files as a day of edits would.
"""

from __future__ import annotations

import argparse
import base64
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB
SEED = 7
TEXT_COUNT = 20_000
ASSEMBLY_COUNT = 40
TEXT_SIZES = (1 * KiB, 8 * KiB)
ASSEMBLY_SIZES = (2_000_000, 15_000_000)
SEGMENT_SIZES = (32 * KiB, 512 * KiB)
# Pool segments per unit of scale: the shared third of 40 assemblies (~113 MB)
# then reuses each segment about four times.
POOL_SEGMENTS = 100
# Run lengths of code and table pieces, so that pieces start anywhere.
PIECE_SIZES = (16 * KiB, 768 * KiB)
# Of a change's files, this share of the assemblies (at least one) is patched.
CHANGED_ASSEMBLY_SHARE = 0.05

# kind, weight, file extension
TEXT_KINDS: tuple[tuple[str, float, str], ...] = (
    ("partner", 0.15, ".xml"),
    ("agreement", 0.18, ".xml"),
    ("bridge", 0.11, ".xml"),
    ("transform", 0.14, ".xsl"),
    ("pipeline", 0.10, ".json"),
    ("template", 0.14, ".edi"),
    ("x12-mapping", 0.13, ".csv"),
    ("certificate", 0.05, ".pem"),
)

COMPANIES = (
    "Contoso", "Fabrikam", "Northwind", "Tailspin", "Woodgrove", "AdventureWorks", "Litware",
    "Proseware", "WideWorldImporters", "TreyResearch", "CohoWinery", "AlpineSkiHouse",
    "BlueYonder", "LucernePublishing", "MargiesTravel", "FourthCoffee", "WingtipToys", "Relecloud",
)
CITIES = (
    ("Seattle", "WA", "US"), ("Chicago", "IL", "US"), ("Rotterdam", "ZH", "NL"),
    ("Hamburg", "HH", "DE"), ("Lyon", "ARA", "FR"), ("Toronto", "ON", "CA"),
    ("Atlanta", "GA", "US"), ("Dallas", "TX", "US"), ("Antwerp", "VAN", "BE"), ("Leeds", "YKS", "GB"),
)
STREETS = ("Main St", "Harbor Way", "Industrial Pkwy", "Market St", "Dock Rd", "Commerce Blvd")
PEOPLE = ("Ana", "Ben", "Chen", "Dara", "Eli", "Femi", "Gita", "Hugo", "Ines", "Jon", "Kai", "Lena")
SURNAMES = ("Ito", "Moreau", "Novak", "Okafor", "Patel", "Quinn", "Rossi", "Silva", "Tanaka", "Weber")
X12_SETS = (
    ("810", "IN", "Invoice"), ("850", "PO", "Purchase Order"), ("855", "PR", "PO Acknowledgment"),
    ("856", "SH", "Ship Notice"), ("997", "FA", "Functional Acknowledgment"),
    ("204", "SM", "Motor Carrier Load Tender"), ("214", "QM", "Shipment Status"),
    ("820", "RA", "Payment Order"), ("846", "IB", "Inventory Inquiry"), ("860", "PC", "PO Change"),
)
SEGMENTS = ("BEG", "REF", "PER", "DTM", "N1", "N3", "N4", "PO1", "PID", "CTT", "IT1", "TDS", "SAC")
FIELDS = (
    "OrderNumber", "OrderDate", "BuyerPartNumber", "VendorPartNumber", "Quantity", "UnitPrice",
    "UnitOfMeasure", "Description", "ShipToName", "ShipToAddress", "ShipToCity", "ShipToPostalCode",
    "CarrierCode", "TrackingNumber", "InvoiceNumber", "InvoiceTotal", "Currency", "TermsCode",
)
STEPS = ("decode", "validate", "map", "enrich", "route", "encode", "archive", "notify")
VERSIONS = ("004010", "005010", "003060")


def _company(rng: random.Random) -> str:
    return rng.choice(COMPANIES)


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10 ** (n - 1), 10**n))


def _partner(rng: random.Random, name: str) -> Iterator[str]:
    co = _company(rng)
    city, region, country = rng.choice(CITIES)
    yield from (
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<Partner xmlns="urn:stowage:integration:partner:2024" name="{name}">',
        f"  <Description>Trading partner {co} ({city}, {country})</Description>",
        "  <Profiles>",
    )
    n = 0
    while True:
        n += 1
        first, last = rng.choice(PEOPLE), rng.choice(SURNAMES)
        yield from (
            f'    <Profile name="{co}-{n:03d}" qualifier="ZZ" identifier="{co.upper()[:8]}{_digits(rng, 4)}">',
            f'      <Identity type="AS2Identity" value="{co}AS2{n:03d}"/>',
            f'      <Identity type="DUNS" value="{_digits(rng, 9)}"/>',
            f'      <Address street="{rng.randint(1, 9999)} {rng.choice(STREETS)}" city="{city}" '
            f'region="{region}" postalCode="{_digits(rng, 5)}" country="{country}"/>',
            f'      <Contact name="{first} {last}" email="{first.lower()}.{last.lower()}@{co.lower()}.example" '
            f'phone="+1-555-{_digits(rng, 4)}"/>',
            '      <Setting key="encoding" value="utf-8"/>',
            f'      <Setting key="mdnMode" value="{rng.choice(("sync", "async", "none"))}"/>',
            "    </Profile>",
        )


def _agreement(rng: random.Random, name: str) -> Iterator[str]:
    host, guest = _company(rng), _company(rng)
    yield from (
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<Agreement xmlns="urn:stowage:integration:agreement:2024" name="{name}" protocol="X12" '
        f'host="{host}" guest="{guest}">',
        f'  <Transport type="FTP" server="ftp.{guest.lower()}.example" folder="/inbound/{guest}/{name}" '
        f'pollingIntervalSeconds="{rng.choice((30, 60, 300))}"/>',
    )
    for direction in ("Receive", "Send") * 1000:
        version = rng.choice(VERSIONS)
        yield f"  <{direction}>"
        yield (
            f'    <Envelope isa05="ZZ" isa06="{host.upper()[:8]}{_digits(rng, 3)}" isa07="ZZ" '
            f'isa08="{guest.upper()[:8]}{_digits(rng, 3)}" controlVersion="{version[:5]}" '
            f'usageIndicator="{rng.choice("PT")}" interchangeControlNumber="{_digits(rng, 9)}"/>'
        )
        for st, gs, _ in rng.sample(X12_SETS, 3):
            yield (
                f'    <Validation transactionSet="{st}" functionalGroup="{gs}" validateEdiTypes="true" '
                f'validateXsdTypes="{rng.choice(("true", "false"))}" allowLeadingTrailingZeros="true" '
                f'trailingSeparatorPolicy="NotAllowed"/>'
            )
        yield (
            f'    <Acknowledgement ta1="{rng.choice(("true", "false"))}" fa997="true" '
            f'batchAcknowledgements="false" generateControlNumbers="true"/>'
        )
        yield f'    <Schema transactionSet="{rng.choice(X12_SETS)[0]}" name="X12_{version}_{rng.choice(X12_SETS)[0]}.xsd"/>'
        yield f"  </{direction}>"


def _bridge(rng: random.Random, name: str) -> Iterator[str]:
    co = _company(rng)
    yield from (
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<Bridge xmlns="urn:stowage:integration:bridge:2024" name="{name}" type="XmlOneWayBridge">',
        "  <Stages>",
    )
    n = 0
    while True:
        n += 1
        st = rng.choice(X12_SETS)[0]
        yield f'    <Stage name="{rng.choice(STEPS)}-{n}" enabled="true">'
        yield f'      <Schema name="Schema_{st}_{co}.xsd" target="urn:{co.lower()}:orders:{st}"/>'
        yield f'      <Property key="timeoutSeconds" value="{rng.choice((30, 60, 120))}"/>'
        yield f'      <Route condition="/Order/Total &gt; {rng.randint(100, 99999)}" endpoint="https://{co.lower()}.example/api/orders/{_digits(rng, 5)}"/>'
        yield "    </Stage>"


def _transform(rng: random.Random, name: str) -> Iterator[str]:
    st = rng.choice(X12_SETS)[0]
    version = rng.choice(VERSIONS)
    yield from (
        '<?xml version="1.0" encoding="utf-8"?>',
        '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"',
        f'    xmlns:ns0="urn:x12:schemas:{version}:{st}" xmlns:ns1="urn:stowage:canonical:order">',
        f'  <xsl:template match="/ns0:X12_{version}_{st}">',
        "    <ns1:Order>",
    )
    while True:
        seg = rng.choice(SEGMENTS)
        loop = rng.randint(1, 9)
        yield f'      <xsl:for-each select="ns0:{seg}Loop{loop}">'
        for _ in range(rng.randint(2, 5)):
            field = rng.choice(FIELDS)
            yield f'        <{field}><xsl:value-of select="ns0:{seg}/{seg}{rng.randint(1, 12):02d}"/></{field}>'
        yield "      </xsl:for-each>"


def _pipeline(rng: random.Random, name: str) -> Iterator[str]:
    co = _company(rng)
    yield "{"
    yield f'  "name": "{name}",'
    yield f'  "owner": "{co}",'
    yield '  "steps": ['
    n = 0
    while True:
        n += 1
        step = rng.choice(STEPS)
        yield "    {"
        yield f'      "id": "{step}-{n:03d}",'
        yield f'      "type": "{step}",'
        yield f'      "transform": "Map_{rng.choice(X12_SETS)[0]}_To_Canonical_{_digits(rng, 3)}",'
        yield f'      "retry": {{"count": {rng.randint(1, 5)}, "intervalSeconds": {rng.choice((10, 30, 60))}}},'
        yield f'      "onError": "{rng.choice(("deadletter", "suspend", "retry"))}"'
        yield "    },"


def _template(rng: random.Random, name: str) -> Iterator[str]:
    st, gs, _ = rng.choice(X12_SETS)
    a, b = _company(rng).upper()[:10], _company(rng).upper()[:10]
    date = f"2{_digits(rng, 5)}"
    control = _digits(rng, 9)
    yield f"ISA*00*          *00*          *ZZ*{a:<15}*ZZ*{b:<15}*{date}*1200*U*00401*{control}*0*P*>~"
    yield f"GS*{gs}*{a}*{b}*20{date}*1200*{rng.randint(1, 999)}*X*004010~"
    yield f"ST*{st}*{_digits(rng, 4)}~"
    yield f"BEG*00*SA*PO{_digits(rng, 6)}**20{date}~"
    n = 0
    while True:
        n += 1
        city, region, country = rng.choice(CITIES)
        yield f"N1*ST*{rng.choice(COMPANIES)} {city} DC*92*{_digits(rng, 5)}~"
        yield f"N3*{rng.randint(1, 9999)} {rng.choice(STREETS).upper()}~"
        yield f"N4*{city.upper()}*{region}*{_digits(rng, 5)}*{country}~"
        yield f"PO1*{n}*{rng.randint(1, 500)}*EA*{rng.randint(1, 999)}.{_digits(rng, 2)}**BP*ITEM{_digits(rng, 6)}*VP*V{_digits(rng, 5)}~"
        yield f"PID*F****{rng.choice(FIELDS)} {rng.choice(FIELDS)} {rng.choice(('BLUE', 'RED', 'LARGE', 'SMALL'))}~"
        yield f"DTM*002*20{date}~"


def _x12_mapping(rng: random.Random, name: str) -> Iterator[str]:
    yield "st01,gs01,version,direction,partner,description,enabled"
    while True:
        st, gs, label = rng.choice(X12_SETS)
        yield (
            f"{st},{gs},{rng.choice(VERSIONS)},{rng.choice(('inbound', 'outbound'))},"
            f"{_company(rng)}-{_digits(rng, 4)},{label},{rng.choice(('true', 'false'))}"
        )


def _certificate(rng: random.Random, name: str) -> Iterator[str]:
    co = _company(rng)
    yield f"Subject: CN={co.lower()}.example, O={co}, C=US"
    yield f"Issuer: CN={rng.choice(COMPANIES)} Issuing CA {rng.randint(1, 9)}, O={rng.choice(COMPANIES)}"
    yield f"Thumbprint: {rng.randbytes(20).hex().upper()}"
    yield f"NotAfter: 20{rng.randint(26, 35)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    yield "-----BEGIN CERTIFICATE-----"
    while True:
        der = base64.b64encode(rng.randbytes(48 * 16)).decode()
        for i in range(0, len(der), 64):
            yield der[i : i + 64]


TEXT_WRITERS: dict[str, Callable[[random.Random, str], Iterator[str]]] = {
    "partner": _partner,
    "agreement": _agreement,
    "bridge": _bridge,
    "transform": _transform,
    "pipeline": _pipeline,
    "template": _template,
    "x12-mapping": _x12_mapping,
    "certificate": _certificate,
}


def text_content(kind: str, name: str, size: int, rng: random.Random) -> bytes:
    """``size`` bytes of a ``kind`` artifact: whole lines, the last one cut."""
    out: list[str] = []
    length = 0
    for line in TEXT_WRITERS[kind](rng, name):
        out.append(line)
        length += len(line) + 1
        if length >= size:
            break
    return ("\n".join(out) + "\n").encode()[:size]


# -- assemblies ---------------------------------------------------------------

NAMESPACES = ("Maps", "Schemas", "Pipelines", "Adapters", "Rules", "Orchestrations", "Common")
TYPES = ("Order", "Invoice", "ShipNotice", "Acknowledgment", "Envelope", "Partner", "Batch")
METHODS = ("Transform", "Validate", "get_Value", "set_Value", "Resolve", "Execute", "Dispose")
FLAGS = (b"\x06\x00", b"\x86\x01", b"\x96\x00", b"\x01\x10")


def make_pool(scale: float, seed: int = SEED) -> list[bytes]:
    """The segments assemblies share (library code linked into several)."""
    rng = random.Random(f"{seed}:pool")
    count = max(8, round(POOL_SEGMENTS * scale))
    return [rng.randbytes(rng.randint(*SEGMENT_SIZES)) for _ in range(count)]


def _vocabulary(rng: random.Random) -> list[bytes]:
    co = _company(rng)
    return [
        f"{co}.Integration.{rng.choice(NAMESPACES)}.{rng.choice(TYPES)}{rng.randint(1, 999)}"
        f"::{rng.choice(METHODS)}".encode()
        for _ in range(2048)
    ]


def _table(rng: random.Random, vocabulary: list[bytes], size: int) -> bytes:
    """Metadata-table-like rows: a name from the assembly's vocabulary, a token
    and an address (random), flags from a few."""
    rows = max(1, size // 60)
    names = rng.choices(vocabulary, k=rows)
    flags = rng.choices(FLAGS, k=rows)
    noise = rng.randbytes(12 * rows)
    return b"".join(
        names[i] + b"\x00" + noise[12 * i : 12 * i + 12] + flags[i] for i in range(rows)
    )[:size]


@dataclass
class AssemblyParts:
    code: int = 0
    table: int = 0
    shared: int = 0


def write_assembly(path: Path, size: int, pool: list[bytes], rng: random.Random) -> AssemblyParts:
    """Pieces of code, tables and shared runs, in proportions of a third each,
    each starting wherever the previous one ended; written as they are made."""
    vocabulary = _vocabulary(rng)
    parts = AssemblyParts()
    budget = {"code": size / 3, "table": size / 3, "shared": size / 3}
    written = 0
    with open(path, "wb") as f:
        while written < size:
            weights = [max(0.0, budget[k]) for k in ("code", "table", "shared")]
            kind = rng.choices(("code", "table", "shared"), weights)[0] if sum(weights) else "code"
            if kind == "shared":
                start, run = rng.randrange(len(pool)), rng.randint(1, 4)
                piece = b"".join(pool[(start + j) % len(pool)] for j in range(run))
            elif kind == "code":
                piece = rng.randbytes(rng.randint(*PIECE_SIZES))
            else:
                piece = _table(rng, vocabulary, rng.randint(*PIECE_SIZES))
            # A piece ends within its kind's budget (never below the smallest
            # piece), so each kind stays near its third.
            piece = piece[: min(size - written, max(int(budget[kind]), PIECE_SIZES[0]))]
            budget[kind] -= len(piece)
            setattr(parts, kind, getattr(parts, kind) + len(piece))
            f.write(piece)
            written += len(piece)
    return parts


# -- the whole dataset --------------------------------------------------------


@dataclass
class Totals:
    text_files: int = 0
    text_bytes: int = 0
    assemblies: int = 0
    assembly_bytes: int = 0
    code_bytes: int = 0
    table_bytes: int = 0
    shared_bytes: int = 0
    pool_bytes: int = 0

    @property
    def files(self) -> int:
        return self.text_files + self.assemblies

    @property
    def bytes(self) -> int:
        return self.text_bytes + self.assembly_bytes

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "files": self.files, "bytes": self.bytes}

    def describe(self) -> str:
        return (
            f"{self.text_files:,} text artifacts, {self.text_bytes / 1e6:.1f} MB; "
            f"{self.assemblies} assemblies, {self.assembly_bytes / 1e6:.1f} MB "
            f"({self.assembly_bytes / MiB:.0f} MiB: code {self.code_bytes / 1e6:.0f} MB, "
            f"tables {self.table_bytes / 1e6:.0f} MB, shared runs {self.shared_bytes / 1e6:.0f} MB "
            f"from a pool of {self.pool_bytes / 1e6:.0f} MB); total {self.bytes / 1e6:.1f} MB"
        )


def assembly_sizes(count: int, seed: int = SEED) -> list[int]:
    """Sizes spread evenly over the range (one in each of ``count`` strata, in
    a shuffled order), so that the total is close to count x the mean at every
    scale rather than wandering with a few draws."""
    rng = random.Random(f"{seed}:sizes")
    low, high = ASSEMBLY_SIZES
    sizes = [low + int((i + rng.random()) / count * (high - low)) for i in range(count)]
    rng.shuffle(sizes)
    return sizes


def counts(scale: float) -> tuple[int, int]:
    """(text artifacts, assemblies) at ``scale``; at least one of each."""
    return max(1, round(TEXT_COUNT * scale)), max(1, round(ASSEMBLY_COUNT * scale))


def generate(root: Path, scale: float = 1.0, seed: int = SEED) -> Totals:
    """Writes the dataset under ``root`` (which must not hold one already)."""
    n_text, n_asm = counts(scale)
    totals = Totals()
    kinds_rng = random.Random(f"{seed}:kinds")
    kinds = kinds_rng.choices(
        [k for k, _, _ in TEXT_KINDS], [w for _, w, _ in TEXT_KINDS], k=n_text
    )
    ext = {k: e for k, _, e in TEXT_KINDS}
    for kind in {*kinds, "assembly"}:
        (root / kind).mkdir(parents=True, exist_ok=True)
    for i, kind in enumerate(kinds):
        rng = random.Random(f"{seed}:text:{i}")
        name = f"{_company(rng)}-{i:06d}{ext[kind]}"
        data = text_content(kind, name, rng.randint(*TEXT_SIZES), rng)
        (root / kind / name).write_bytes(data)
        totals.text_files += 1
        totals.text_bytes += len(data)
    pool = make_pool(scale, seed)
    sizes = assembly_sizes(n_asm, seed)
    totals.pool_bytes = sum(len(s) for s in pool)
    for i in range(n_asm):
        rng = random.Random(f"{seed}:assembly:{i}")
        name = f"{_company(rng)}.Integration.Module{i:04d}.dll"
        size = sizes[i]
        parts = write_assembly(root / "assembly" / name, size, pool, rng)
        totals.assemblies += 1
        totals.assembly_bytes += size
        totals.code_bytes += parts.code
        totals.table_bytes += parts.table
        totals.shared_bytes += parts.shared
    return totals


def files(root: Path) -> list[str]:
    """Every ``kind/name`` under ``root``, sorted."""
    return sorted(
        f"{kind.name}/{entry.name}"
        for kind in root.iterdir()
        if kind.is_dir()
        for entry in kind.iterdir()
        if entry.is_file()
    )


# -- a day of edits -------------------------------------------------------------

REVISION_LINES = {
    ".xml": "<!-- revision {} -->",
    ".xsl": "<!-- revision {} -->",
    ".json": '  "revision": "{}",',
    ".edi": "NTE*GEN*REVISION {}~",
    ".csv": "#revision {}",
    ".pem": "Comment: revision {}",
}


def _edit_text(path: Path, rng: random.Random, label: str) -> None:
    """A value edited in one line and a line added: small, like a real fix."""
    lines = path.read_bytes().split(b"\n")
    j = rng.randrange(len(lines))
    lines[j] = bytes(48 + rng.randrange(10) if 48 <= c <= 57 else c for c in lines[j])
    line = REVISION_LINES.get(path.suffix, "# revision {}").format(label)
    lines.insert(rng.randrange(len(lines) + 1), line.encode())
    path.write_bytes(b"\n".join(lines))


def _edit_assembly(path: Path, rng: random.Random) -> None:
    """A rebuilt module: one region of 64-256 KiB replaced, a few KiB inserted
    elsewhere (everything after it shifts)."""
    data = bytearray(path.read_bytes())
    length = min(len(data), rng.randint(64 * KiB, 256 * KiB))
    at = rng.randrange(len(data) - length + 1)
    data[at : at + length] = rng.randbytes(length)
    at = rng.randrange(len(data) + 1)
    data[at:at] = rng.randbytes(rng.randint(512, 8 * KiB))
    path.write_bytes(data)


def change(root: Path, round_: int, seed: int = SEED, fraction: float = 0.01) -> list[str]:
    """Rewrites ``fraction`` of the files under ``root`` in place: mostly text
    artifacts, and a few assemblies (5% of them, at least one) partially.
    Returns the ``kind/name`` of each file changed. The same root, round and
    seed always give the same edits."""
    every = files(root)
    assemblies = [f for f in every if f.startswith("assembly/")]
    texts = [f for f in every if not f.startswith("assembly/")]
    rng = random.Random(f"{seed}:change:{round_}")
    n_asm = min(len(assemblies), max(1, round(len(assemblies) * CHANGED_ASSEMBLY_SHARE)))
    n_text = min(len(texts), max(0, round(len(every) * fraction) - n_asm))
    chosen_asm = rng.sample(assemblies, n_asm)
    chosen_text = rng.sample(texts, n_text)
    for rel in chosen_text:
        _edit_text(root / rel, rng, f"{round_}.{rng.randbytes(4).hex()}")
    for rel in chosen_asm:
        _edit_assembly(root / rel, rng)
    return sorted(chosen_text + chosen_asm)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("directory", metavar="DIR", type=Path, help="an empty or new folder")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--check", action="store_true", help="also measure compression and deduplication"
    )
    args = parser.parse_args()
    if args.directory.exists() and any(args.directory.iterdir()):
        parser.error(f"{args.directory} is not empty")
    totals = generate(args.directory, args.scale, args.seed)
    print(totals.describe())
    if args.check:
        from .shape import measure

        print(measure(args.directory).describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
